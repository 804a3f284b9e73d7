"""Day two on a real box: `status --check`, `logs`, `bench --deployment`, backup and restore,
and no secret in a process argument or a log line, against `deploy --provider local`.

Two deployments in all, one after the other (both publish 127.0.0.1:10443/10080): `d2-a`
carries every check; its backup is restored into a fresh `d2-b`. The SSH paths run through
the real sshd fixture, which logs in to this machine and runs `docker compose` there.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.box_support import IMAGES_ENV, run_cli, skip_unless_box_runs
from tests.ssh_fixtures import SshServer

pytestmark = pytest.mark.box

FAKE_CLOUD = Path(__file__).parent / "box" / "fake_cloud.py"
TIER = "2"
NAMES = ("d2-a", "d2-b")
PORTS = ("--https-port", "10443", "--http-port", "10080")
FAKE_KEYS = {
    name: f"test-{name.lower().replace('_', '-')}-day-two-0123456789"
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY", "OPENAI_API_KEY")
}
COMPLEX = [
    {"role": "user", "content": "Analyze the trade-offs of our two pricing strategies."},
    {"role": "assistant", "content": "Could you share the figures for each?"},
    {"role": "user", "content": "Evaluate them in depth and write a short poem on the winner."},
]
SIMPLE = [{"role": "user", "content": "What are your opening hours?"}]


skip_unless_box_runs()


@dataclass
class Site:
    """The class's state dir, environment and generated models, shared by both boxes."""

    root: Path
    env: dict[str, str]
    models: dict[str, Path]
    deployed: list[str] = field(default_factory=list)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, check=check)

    def bundle(self, name: str) -> Path:
        return self.root / "state" / "deployments" / name / "bundle"

    def ca(self, name: str) -> Path:
        return self.root / "state" / "deployments" / name / "ca.crt"

    def compose(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", name, "--project-directory", str(self.bundle(name)), *args],
            capture_output=True,
            text=True,
            timeout=600,
        )

    def secrets(self, name: str) -> dict[str, str]:
        env = (self.bundle(name) / ".env").read_text().splitlines()
        pairs = (line.partition("=") for line in env if "=" in line)
        return {key: value for key, _, value in pairs if len(value) >= 8}

    def chat(
        self, name: str, messages: list[dict[str, str]], *, key: str | None = None, **headers: str
    ) -> tuple[int, dict[str, Any]]:
        """A chat completion through the proxy, TLS verified with the box's own CA."""
        context = ssl.create_default_context(cafile=str(self.ca(name)))
        token = key or self.secrets(name)["LITELLM_MASTER_KEY"]
        body = json.dumps({"model": "hybrid", "messages": messages, "max_tokens": 8}).encode()
        request = urllib.request.Request(
            "https://localhost:10443/v1/chat/completions",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=240, context=context) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {"raw": exc.read().decode(errors="replace")}

    def redis(self, name: str, *args: str) -> str:
        done = self.compose(name, "exec", "-T", "redis", "redis-cli", "--no-auth-warning", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def wait_healthy(self, name: str, service: str, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while True:
            done = self.compose(name, "ps", "--format", "json", service)
            rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
            if rows and rows[0].get("Health") == "healthy":
                return
            assert time.monotonic() < deadline, self.compose(name, "logs", "--tail", "30", service)
            time.sleep(3)


def _images() -> dict[str, Any]:
    return yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())


def _deploy(site: Site, name: str) -> str:
    seeds = [a for m, p in site.models.items() for a in ("--model-file", f"{m}={p}")]
    site.deployed.append(name)
    done = site.cli(
        "deploy", "--provider", "local", "--tier", TIER, "--name", name, *PORTS, *seeds,
        "--allow-unverified",
        "--route-url", "medium=http://fake-cloud:9000/v1",
        "--route-url", "large=http://fake-cloud:9000/v1",
        check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    if done.returncode != 0:
        logs = site.compose(name, "logs", "--tail", "40").stdout
        pytest.fail(f"deploy {name} failed ({done.returncode}):\n{output}\n{logs}")
    subprocess.run(
        [
            "docker", "run", "--detach", "--name", f"{name}-fake-cloud",
            "--network", f"{name}_edge", "--network-alias", "fake-cloud",
            "--volume", f"{FAKE_CLOUD}:/fake_cloud.py:ro",
            "--entrypoint", "python3", _images()["gateway"], "/fake_cloud.py",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return output


def _remove(site: Site, name: str) -> None:
    subprocess.run(["docker", "rm", "--force", f"{name}-fake-cloud"], capture_output=True)
    if site.bundle(name).exists():
        site.cli("destroy", name, "--yes", check=False)


@pytest.fixture(scope="class")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Deployment d2-a (tier 2: Redis, Prometheus) up; every box removed at the end."""
    from hybridctl.catalog import load_catalog
    from hybridctl.testing.modelgen import write_tiny_model

    root = tmp_path_factory.mktemp("day-two")
    models = {
        entry.model: write_tiny_model(root / "models" / f"{entry.model}.gguf", seed=i)
        for i, entry in enumerate(load_catalog().tier(TIER).models)
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        **FAKE_KEYS,
        "HOME": str(root / "home"),
        "HYBRIDCTL_STATE_DIR": str(root / "state"),
        "HYBRIDCTL_IMAGES": os.environ[IMAGES_ENV],
        "COLUMNS": "200",
    }
    made = Site(root, env, models)
    try:
        _deploy(made, NAMES[0])
        yield made
    finally:
        for name in made.deployed:
            _remove(made, name)


def _spend_key() -> str:
    return f"hybridctl:cloud_spend_usd:{datetime.now(UTC).strftime('%Y-%m-%d')}"


class TestDayTwo:
    def test_status_check_reports_a_healthy_box_live(self, site: Site) -> None:
        done = site.cli("status", "d2-a", "--check")
        assert "healthy" in done.stdout.splitlines()[-1]
        report = json.loads(site.cli("status", "d2-a", "--check", "--json").stdout)
        items = {item["what"]: item for item in report["items"]}
        assert report["healthy"] is True
        for model in site.models:
            assert items[f"model {model}"]["data"]["status"] == "loaded"
        assert items["gateway"]["level"] == "ok" and "TLS verified" in items["gateway"]["detail"]
        assert items["certificate"]["data"]["ca_expires"] > items["certificate"]["data"]["expires"]
        assert 0 < items["memory"]["data"]["used_bytes"] < items["memory"]["data"]["budget_bytes"]
        assert items["cloud spend"]["data"]["budget_usd"] > 0
        assert {"service redis", "service llm", "service proxy"} <= set(items)

    def test_status_check_reports_a_stopped_service_and_exits_1(self, site: Site) -> None:
        assert site.compose("d2-a", "stop", "prometheus").returncode == 0
        try:
            done = site.cli("status", "d2-a", "--check", check=False)
            assert done.returncode == 1, done.stdout + done.stderr
            line = next(ln for ln in done.stdout.splitlines() if "service prometheus" in ln)
            assert "FAIL" in line and "exited" in line
            report = json.loads(site.cli("status", "d2-a", "--check", "--json", check=False).stdout)
            failed = [item["what"] for item in report["items"] if item["level"] == "fail"]
            assert report["healthy"] is False and failed == ["service prometheus"]
        finally:
            assert site.compose("d2-a", "start", "prometheus").returncode == 0
        site.wait_healthy("d2-a", "prometheus")

    def test_logs_show_a_services_lines(self, site: Site) -> None:
        status, body = site.chat("d2-a", SIMPLE)
        assert status == 200, body
        gateway = site.cli("logs", "d2-a", "gateway", "--since", "10m").stdout
        assert "POST /v1/chat/completions" in gateway
        assert all(line.startswith("gateway-1") for line in gateway.splitlines() if line)
        redis = site.cli("logs", "d2-a", "redis", "--tail", "3").stdout.splitlines()
        assert 1 <= len(redis) <= 3 and all(line.startswith("redis-1") for line in redis)
        typo = site.cli("logs", "d2-a", "gatway", check=False)
        assert typo.returncode == 2 and "did you mean 'gateway'" in typo.stderr
        bad = site.cli("logs", "d2-a", "--since", "yesterday", check=False)
        assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr

    def test_check_and_logs_over_ssh_with_the_pinned_host_key(
        self, site: Site, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from hybridctl.catalog import load_catalog
        from hybridctl.catalog.deployments import load_record
        from hybridctl.deploy.box.adapter import RemoteBox
        from hybridctl.ops.check import check_deployment
        from hybridctl.ops.logs import show_logs
        from hybridctl.remote.ssh import SshClient, SshSettings, SshTarget

        monkeypatch.setenv("HYBRIDCTL_STATE_DIR", site.env["HYBRIDCTL_STATE_DIR"])
        settings = SshSettings(
            known_hosts=sshd.known_hosts, identity_file=sshd.identity_file, config_file="none"
        )
        client = SshClient(SshTarget.parse(sshd.target), settings)
        runner = RemoteBox(
            client, project="d2-a", directory=str(site.bundle("d2-a")), project_directory=True
        )
        report = check_deployment(load_record("d2-a"), load_catalog(), runner=runner)
        assert report.healthy, [(i.what, i.detail) for i in report.problems]
        assert report.where == str(client.target)
        assert any(i.what.startswith("model ") and i.detail == "loaded" for i in report.items)
        lines: list[bytes] = []
        show_logs(runner, "d2-a", "gateway", write=lines.append, since="10m")
        assert b"POST /v1/chat/completions" in b"".join(lines)
        from hybridctl.ops.backup import create_backup, read_backup

        archive = site.root / "over-ssh.tar.gz"
        create_backup(load_record("d2-a"), runner, archive)
        manifest, blobs = read_backup(archive)
        assert set(manifest["parts"]) == {"redis", "proxy", "env"}
        assert blobs["env"] == (site.bundle("d2-a") / ".env").read_bytes()

        wrong = SshSettings(
            known_hosts=sshd.wrong_known_hosts, identity_file=sshd.identity_file, config_file="none"
        )
        impostor = RemoteBox(
            SshClient(SshTarget.parse(sshd.target), wrong),
            project="d2-a",
            directory=str(site.bundle("d2-a")),
            project_directory=True,
        )
        from hybridctl.errors import HybridctlError

        with pytest.raises(HybridctlError, match="host key"):
            check_deployment(load_record("d2-a"), load_catalog(), runner=impostor)

    def test_bench_deployment_load_tests_the_serving_stack(self, site: Site) -> None:
        models = [a for m, p in site.models.items() for a in ("--model", f"{m}={p}")]
        done = site.cli(
            "bench", "--deployment", "d2-a", *models, "--repetitions", "1",
            "--prompt-tokens", "16", "--gen-tokens", "8", "--skip-bandwidth",
            "--max-tokens", "8", "--json",
            check=False,
        )  # fmt: skip
        result = json.loads(done.stdout)
        serving = result["serving"]
        assert serving["endpoint"] == "https://localhost:10443/v1/chat/completions"
        # the concurrency the plan promises for this box, with its p95 beside the measured one
        assert serving["clients"] == serving["promised_concurrency"] >= 1
        assert serving["predicted_p95_s"] > 0 and serving["measured_p95_s"] > 0
        assert serving["errors"] == 0 and serving["requests_ok"] == serving["requests_sent"] > 0
        assert serving["latency_s"]["p95"] >= serving["latency_s"]["p50"] > 0
        assert serving["requests_per_minute"] > 0
        assert {row["name"] for row in result["rows"]} == set(site.models)
        assert done.returncode == (0 if result["verdict"]["ok"] else 1), done.stderr
        serving_gaps = [g for g in result["verdict"]["shortfalls"] if g.startswith("serving: ")]
        assert len(serving_gaps) == len(serving["verdict"]["shortfalls"])

    def test_no_secret_in_process_arguments_or_log_lines(self, site: Site) -> None:
        secrets = site.secrets("d2-a")
        assert {"LITELLM_MASTER_KEY", "REDIS_PASSWORD", "OPENAI_API_KEY"} <= set(secrets)
        assert site.chat("d2-a", SIMPLE, key="sk-not-the-key")[0] in (400, 401, 403)
        assert site.chat("d2-a", COMPLEX, **{"x-hybrid-strategy": "quality"})[0] == 200
        ids = site.compose("d2-a", "ps", "--quiet").stdout.split()
        assert len(ids) >= 5
        for container in ids:
            top = subprocess.run(
                ["docker", "top", container, "-eo", "pid,args"], capture_output=True, text=True
            )
            assert top.returncode == 0, top.stderr
            assert len(top.stdout.splitlines()) >= 2
            leaked = [name for name, value in secrets.items() if value in top.stdout]
            assert not leaked, (container, leaked)
        logs = site.compose("d2-a", "logs", "--no-color").stdout
        logs += site.cli("logs", "d2-a", "--tail", "1000").stdout
        assert "POST /v1/chat/completions" in logs
        leaked = [name for name, value in secrets.items() if value in logs]
        assert not leaked, leaked

    def test_backup_then_restore_into_a_fresh_deployment_keeps_keys_spend_and_ca(
        self, site: Site
    ) -> None:
        status, body = site.chat("d2-a", COMPLEX, **{"x-hybrid-strategy": "quality"})
        assert status == 200, body
        deadline = time.monotonic() + 30
        while not (spent := float(site.redis("d2-a", "get", _spend_key()) or 0)):
            assert time.monotonic() < deadline, "no spend recorded"
            time.sleep(1)
        archive = site.root / "d2-a.tar.gz"
        site.cli("backup", "d2-a", "--out", str(archive))
        assert archive.stat().st_mode & 0o777 == 0o600
        with tarfile.open(archive) as opened:
            names = set(opened.getnames())
            manifest = json.loads(opened.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert {"manifest.json", "parts/redis.tar", "parts/proxy.tar", "env"} <= names
        assert manifest["tier"] == TIER and set(manifest["parts"]) == {"redis", "proxy", "env"}
        assert not any(name.endswith(".gguf") for name in names)
        old_key = site.secrets("d2-a")["LITELLM_MASTER_KEY"]
        old_ca = site.ca("d2-a").read_bytes()
        kept_ca = site.root / "d2-a-ca.crt"
        kept_ca.write_bytes(old_ca)

        _remove(site, "d2-a")
        _deploy(site, "d2-b")
        assert site.secrets("d2-b")["LITELLM_MASTER_KEY"] != old_key
        assert site.ca("d2-b").read_bytes() != old_ca

        damaged = site.root / "damaged.tar.gz"
        _rewrite(archive, damaged, "parts/redis.tar", _flip_a_byte)
        refused = site.cli("restore", "d2-b", "--from", str(damaged), check=False)
        assert refused.returncode == 2 and "does not match its sha256" in refused.stderr
        other_tier = site.root / "tier1.tar.gz"
        _rewrite(archive, other_tier, "manifest.json", _tier_one)
        refused = site.cli("restore", "d2-b", "--from", str(other_tier), check=False)
        assert refused.returncode == 2 and "the backup is of tier 1" in refused.stderr
        assert site.secrets("d2-b")["LITELLM_MASTER_KEY"] != old_key  # nothing was touched

        done = site.cli("restore", "d2-b", "--from", str(archive))
        assert "the box is healthy" in done.stdout
        assert site.secrets("d2-b")["LITELLM_MASTER_KEY"] == old_key
        assert site.ca("d2-b").read_bytes() == old_ca
        assert float(site.redis("d2-b", "get", _spend_key())) == pytest.approx(spent)
        status, body = site.chat("d2-b", SIMPLE, key=old_key)  # TLS verified with the old CA
        assert status == 200, body
        context = ssl.create_default_context(cafile=str(kept_ca))
        with urllib.request.urlopen(
            "https://localhost:10443/health/liveliness", context=context, timeout=30
        ) as response:
            assert response.status == 200


def _flip_a_byte(data: bytes) -> bytes:
    return data[:600] + bytes([data[600] ^ 0xFF]) + data[601:]


def _tier_one(data: bytes) -> bytes:
    manifest = json.loads(data)
    manifest["tier"] = "1"
    return json.dumps(manifest).encode()


def _rewrite(source: Path, dest: Path, member: str, change: Any) -> None:
    """Copy a backup archive, changing one member's bytes."""
    import io

    with tarfile.open(source) as old, tarfile.open(dest, "w:gz") as new:
        for info in old.getmembers():
            data = old.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == member:
                data = change(data)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
