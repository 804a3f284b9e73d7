"""`hybridctl upgrade` on a real local box: rollback, a tier move, a re-render that keeps state.

Deploys tier 1 under Docker Compose (ports 11443/11080, so other boxes can run beside it).
An upgrade to tier 2 with a broken model file fails verification and rolls back to a serving
tier 1; the same upgrade with a good file serves tier 2's other model through the TLS proxy
with the same keys and CA; a re-render of tier 2 keeps Redis (spend counter, keys). The serving
wait `deploy` runs on a cloud box is then run against this box through a real sshd. Needs what
tests/test_box.py needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hybridctl.catalog import load_catalog
from tests.box_support import box_env, skip_unless_box_runs

pytestmark = pytest.mark.box

NAME = "up-box"
PORTS = ("--https-port", "11443", "--http-port", "11080")
FAKE_KEYS = {
    "OPENAI_API_KEY": "test-openai-key-0123456789",
    "ANTHROPIC_API_KEY": "test-anthropic-key-0123456789",
}
SIMPLE = [{"role": "user", "content": "What are your opening hours?"}]
COMPLEX = [
    {"role": "user", "content": "Analyze the trade-offs of our two pricing strategies."},
    {"role": "assistant", "content": "Could you share the figures for each?"},
    {"role": "user", "content": "Evaluate them in depth and explain why one wins."},
]


skip_unless_box_runs()


class Box:
    """One local deployment driven through the real CLI in a child process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = box_env(root, FAKE_KEYS)
        self.outputs: dict[str, str] = {}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hybridctl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1800,
        )

    @property
    def bundle(self) -> Path:
        return Path(self.outputs["bundle"])

    def env_value(self, key: str) -> str:
        for line in (self.bundle / ".env").read_text().splitlines():
            if line.startswith(f"{key}="):
                return line.partition("=")[2]
        raise AssertionError(f"no {key} in .env")

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", NAME, "--project-directory", str(self.bundle), *args],
            capture_output=True,
            text=True,
            timeout=600,
        )

    def redis(self, *args: str) -> str:
        done = self.compose("exec", "-T", "redis", "redis-cli", "--no-auth-warning", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def chat(self, messages: list[dict[str, str]]) -> tuple[int, dict[str, str], dict]:
        import ssl
        import urllib.error
        import urllib.request

        context = ssl.create_default_context(cafile=self.outputs["ca_cert"])
        request = urllib.request.Request(
            self.outputs["endpoint"] + "/v1/chat/completions",
            data=json.dumps({"model": "hybrid", "messages": messages, "max_tokens": 8}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.env_value('LITELLM_MASTER_KEY')}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=300, context=context) as response:
                got = {k.lower(): v for k, v in response.headers.items()}
                return response.status, got, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return (
                exc.code,
                {k.lower(): v for k, v in exc.headers.items()},
                {"raw": exc.read().decode(errors="replace")},
            )


def _models(folder: Path) -> dict[str, Path]:
    from hybridctl.testing.modelgen import write_tiny_model

    catalog = load_catalog()
    wanted = {e.model for tier in ("1", "2") for e in catalog.tier(tier).models}
    return {
        model: write_tiny_model(folder / f"{model}.gguf", seed=i)
        for i, model in enumerate(sorted(wanted))
    }


def _seeds(models: dict[str, Path], tier: str) -> list[str]:
    ids = [e.model for e in load_catalog().tier(tier).models]
    return [arg for model in ids for arg in ("--model-file", f"{model}={models[model]}")]


def _complex_model(tier: str) -> str:
    roles = {e.role: e.model for e in load_catalog().tier(tier).models}
    return roles["complex"]


def _tier_models(tier: str) -> list[str]:
    return [e.model for e in load_catalog().tier(tier).models]


def _spend_key() -> str:
    return f"hybridctl:cloud_spend_usd:{datetime.now(UTC).strftime('%Y-%m-%d')}"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    root = tmp_path_factory.mktemp("upgrade")
    deployed = Box(root)
    deployed.models = _models(root / "models")  # type: ignore[attr-defined]
    done = deployed.cli(
        "deploy",
        "--provider",
        "local",
        "--tier",
        "1",
        "--name",
        NAME,
        *PORTS,
        *_seeds(deployed.models, "1"),
        "--allow-unverified",  # type: ignore[attr-defined]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    deployed.outputs = json.loads(deployed.cli("outputs", NAME, "--json").stdout)
    yield deployed
    deployed.cli("destroy", NAME, "--yes")


def _record(box: Box) -> tuple[str, str]:
    record = json.loads(box.cli("deployments", "--json").stdout)[0]
    return record["tier"], record["status"]


def test_a_failed_verification_rolls_back_to_a_serving_box(box: Box, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(300_000))  # a header, then nothing llama.cpp reads
    seeds = _seeds(box.models, "2")  # type: ignore[attr-defined]
    qwen = next(s for s in seeds if s.startswith("qwen"))
    seeds[seeds.index(qwen)] = f"{qwen.partition('=')[0]}={broken}"

    done = box.cli("upgrade", NAME, "--tier", "2", *seeds, "--allow-unverified", "--wait", "300")

    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "failed verification: models not loaded: qwen" in out and "failed (exit" in out
    assert "Rolled back to the previous bundle (tier 1): serving again" in out
    assert _record(box) == ("1", "deployed")
    status, headers, body = box.chat(SIMPLE)
    assert status == 200, body
    assert headers["x-hybrid-model"] == _tier_models("1")[0]


def test_a_tier_move_serves_the_new_model_with_the_same_keys_and_ca(box: Box) -> None:
    master = box.env_value("LITELLM_MASTER_KEY")
    ca_before = Path(box.outputs["ca_cert"]).read_text()

    done = box.cli(
        "upgrade",
        NAME,
        "--tier",
        "2",
        *_seeds(box.models, "2"),  # type: ignore[attr-defined]
        "--allow-unverified",
    )

    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"Upgraded {NAME}: tier 1 -> 2" in out and "verified serving" in out
    assert "backup written to" in out and "proxy:" in out
    assert _record(box) == ("2", "deployed")
    status, headers, body = box.chat(COMPLEX)
    assert status == 200, body
    assert headers["x-hybrid-model"] == _complex_model("2") not in _tier_models("1")
    assert box.env_value("LITELLM_MASTER_KEY") == master  # the same key still opens the API
    assert Path(box.outputs["ca_cert"]).read_text() == ca_before  # clients keep trusting it
    assert master not in out


def test_a_re_render_keeps_the_spend_counter_and_the_redis_keys(box: Box) -> None:
    box.redis("set", _spend_key(), "0.25")
    box.redis("set", "hybridctl:upgrade-test-key", "kept")

    done = box.cli("upgrade", NAME, *_seeds(box.models, "2"), "--allow-unverified")  # type: ignore[attr-defined]

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Upgraded {NAME}: tier 2 -> 2" in done.stdout
    assert box.redis("get", _spend_key()) == "0.25"
    assert box.redis("get", "hybridctl:upgrade-test-key") == "kept"
    backups = sorted((box.root / "state" / "deployments" / NAME / "backups").glob("*.tar"))
    assert len(backups) == 3 and all(b.stat().st_mode & 0o777 == 0o600 for b in backups)


@pytest.fixture
def over_ssh(box: Box, tmp_path: Path, isolated_env: Path) -> Iterator[tuple[Any, Any]]:
    """The local box reached the way `deploy` reaches a cloud box: a real sshd, a pinned host
    key, `docker compose` run over SSH in the bundle's folder, the gateway through the proxy."""
    from hybridctl.catalog.deployments import DeploymentRecord
    from hybridctl.deploy.box.sshbox import SshBox
    from tests.ssh_fixtures import missing_reason, start_sshd, stop_sshd

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_sshd(tmp_path / "sshd")
    record = DeploymentRecord(
        name="up-remote",
        provider="hetzner",
        tier="2",
        region="nbg1",
        instance_type="cx22",
        nodes=1,
        admin_cidr="127.0.0.1/32",
        ssh_public_key="",
        host_key_public=server.host_public_key,
        host_key_fingerprint="",
        known_hosts=str(server.known_hosts),
        backend_url="file:///tmp",
        monthly_usd=0.0,
        status="deployed",
        created="t0",
        updated="t0",
        outputs={"ip": "127.0.0.1", "ssh_user": server.user},
    )
    ssh_box = SshBox(
        port=server.port,
        identity_file=server.identity_file,
        config_file="none",
        base_url=lambda record, ip: box.outputs["endpoint"],
        bundle_dir=str(box.bundle),
        project=NAME,
    )
    yield ssh_box, record
    stop_sshd(server)


def test_the_serving_wait_over_ssh_fetches_the_ca_and_sees_every_model(
    box: Box, over_ssh: tuple[Any, Any]
) -> None:
    from hybridctl.catalog import deployments

    ssh_box, record = over_ssh
    said: list[str] = []
    ssh_box.wait_serving(record, _tier_models("2"), timeout_s=300, say=said.append)
    fetched = deployments.deployment_dir(record.name) / "ca.crt"
    assert fetched.read_text() == Path(box.outputs["ca_cert"]).read_text()
    text = "\n".join(said)
    assert "gateway: answers through the proxy" in text and "(TLS verified)" in text
    assert all(f"model {m}: loaded" in text for m in _tier_models("2"))


def test_a_box_that_does_not_serve_ends_with_exit_1_and_the_failing_log(
    box: Box, over_ssh: tuple[Any, Any]
) -> None:
    from hybridctl.errors import CheckFailed

    ssh_box, record = over_ssh
    assert box.compose("stop", "gateway").returncode == 0
    try:
        with pytest.raises(CheckFailed) as caught:
            ssh_box.wait_serving(record, _tier_models("2"), timeout_s=20, say=lambda _: None)
    finally:
        assert box.compose("start", "gateway").returncode == 0
    assert caught.value.exit_code == 1
    message = caught.value.message
    assert "does not serve after 20 s" in message
    assert "the gateway did not answer through the proxy" in message
    assert "--- gateway, last lines:" in message
