"""Day-two parts without a box: the user data a cloud deploy sends, log options, the backup
archive's checks, the check report's judgement, and the CLI's errors."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.cli.app import app
from hybridctl.errors import InputError, UsageError
from hybridctl.ops import backup, check, logs, probes
from tests.deploy_fixtures import write_ssh_key

API_KEYS = {
    "OPENAI_API_KEY": "sk-openai-value-that-stays-off-user-data-01",
    "ANTHROPIC_API_KEY": "sk-anthropic-value-that-stays-off-user-data-02",
}


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_the_user_data_of_a_cloud_deploy_carries_no_stack_secret(
    provider: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.deploy.box.hostkeys import generate_host_key
    from hybridctl.deploy.pulumi.spec import DeployRequest, build_spec, resolve
    from hybridctl.render.envfile import ensure_env

    for name, value in API_KEYS.items():
        monkeypatch.setenv(name, value)
    env = ensure_env(isolated_env / "dep").values  # what `deploy` pushes over SSH later
    secrets = {k: v for k, v in env.items() if len(v) >= 8}
    assert {"LITELLM_MASTER_KEY", "REDIS_PASSWORD", *API_KEYS} <= set(secrets)
    request = DeployRequest(
        tier_id="2",
        provider=provider,
        name="scan",
        admin_cidr="203.0.113.7/32",
        ssh_public_key_file=write_ssh_key(isolated_env),
    )
    resolved = resolve(load_catalog(), request, existing=None, offline_plan=False)
    private, public = generate_host_key("scan")
    user_data = build_spec(resolved, private, public).user_data
    assert public.split()[1] in user_data  # the pinned public key is there to be checked
    leaked = [name for name, value in secrets.items() if value in user_data]
    assert not leaked
    written = [f["path"] for f in yaml.safe_load(user_data).get("write_files", [])]
    assert "/opt/hybridctl/.env" not in written and "LITELLM_MASTER_KEY=" not in user_data


@pytest.mark.parametrize("since", ["10m", "1h30m", "90s", "2026-11-29", "2026-11-29T14:00:00Z"])
def test_log_since_accepts_durations_and_times(since: str) -> None:
    args = logs.logs_args("gateway", since=since, tail=None, follow=False, timestamps=False)
    assert args == ["logs", "--no-color", "--since", since, "gateway"]


@pytest.mark.parametrize("since", ["yesterday", "10 minutes", "-5m", "$(id)"])
def test_log_since_refuses_anything_else(since: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        logs.logs_args(None, since=since, tail=None, follow=False, timestamps=False)


def test_logs_default_to_the_last_lines_and_follow_on_request() -> None:
    args = logs.logs_args(None, since=None, tail=None, follow=True, timestamps=True)
    assert args == ["logs", "--no-color", "--tail", "200", "--follow", "--timestamps"]
    with pytest.raises(UsageError, match="--tail"):
        logs.logs_args(None, since=None, tail=-1, follow=False, timestamps=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("326.8MiB", int(326.8 * 2**20)), ("2.05GiB", int(2.05 * 2**30)), ("6.67kB", 6670)],
)
def test_docker_stats_sizes_are_read_as_bytes(text: str, expected: int) -> None:
    assert probes.parse_size(text) == expected


def _archive(path: Path, manifest: dict, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as out:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return path


def _manifest(data: bytes, **changes: object) -> dict:
    part = {"file": "parts/redis.tar", "service": "redis", "path": "/data"}
    part.update(bytes=len(data), sha256=backup._sha256(data))
    return {"format": backup.FORMAT, "tier": "2", "parts": {"redis": part}, **changes}


def test_a_backup_is_read_back_with_its_checksums(tmp_path: Path) -> None:
    data = b"redis volume bytes"
    path = _archive(tmp_path / "b.tar.gz", _manifest(data), {"parts/redis.tar": data})
    manifest, blobs = backup.read_backup(path)
    assert manifest["tier"] == "2" and blobs["parts/redis.tar"] == data


def test_a_damaged_or_foreign_backup_is_refused(tmp_path: Path) -> None:
    data = b"redis volume bytes"
    changed = _archive(tmp_path / "c.tar.gz", _manifest(data), {"parts/redis.tar": b"other"})
    with pytest.raises(InputError, match="does not match its sha256"):
        backup.read_backup(changed)
    missing = _archive(tmp_path / "m.tar.gz", _manifest(data), {})
    with pytest.raises(InputError, match=r"part redis .* is missing"):
        backup.read_backup(missing)
    future = _archive(tmp_path / "f.tar.gz", _manifest(data, format="hybridctl-backup/9"), {})
    with pytest.raises(InputError, match="this hybridctl reads hybridctl-backup/1"):
        backup.read_backup(future)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(InputError, match="not a readable hybridctl backup"):
        backup.read_backup(tmp_path / "junk.tar.gz")
    with pytest.raises(InputError, match="does not exist"):
        backup.read_backup(tmp_path / "absent.tar.gz")


def test_a_backup_cannot_point_a_restore_at_another_volume_or_be_malformed(
    tmp_path: Path,
) -> None:
    data = b"whatever"
    wipe = _manifest(data)
    wipe["parts"]["redis"].update(service="llm", path="/models")  # consistent checksums
    path = _archive(tmp_path / "w.tar.gz", wipe, {"parts/redis.tar": data})
    with pytest.raises(InputError, match=r"does not restore: 'redis' \(llm:/models\)"):
        backup.read_backup(path)
    odd = _manifest(data, parts={"models": {"file": "parts/redis.tar", "sha256": "x"}})
    with pytest.raises(InputError, match="does not restore: 'models'"):
        backup.read_backup(_archive(tmp_path / "o.tar.gz", odd, {"parts/redis.tar": data}))
    for manifest in ([], {"parts": []}, {"parts": {"redis": {"file": 1}}}):
        bad = _archive(tmp_path / "x.tar.gz", manifest, {})  # type: ignore[arg-type]
        with pytest.raises(InputError):
            backup.read_backup(bad)


def _record(name: str, *, provider: str, tier: str = "2") -> DeploymentRecord:
    return DeploymentRecord(
        name=name, provider=provider, tier=tier, region="here", instance_type="t",
        nodes=1, admin_cidr="127.0.0.1/32", ssh_public_key="", host_key_public="",
        host_key_fingerprint="", known_hosts="", backend_url="b", monthly_usd=0.0,
        status="deployed", created="t0", updated="t0",
    )  # fmt: skip


def test_a_backup_of_another_tier_or_service_set_is_refused() -> None:
    record = _record("box", provider="local", tier="1")
    manifest = _manifest(b"x")
    with pytest.raises(InputError, match=r"the backup is of tier 2 .* runs tier 1"):
        backup.check_fits(manifest, record, ["gateway", "proxy"])
    with pytest.raises(InputError, match="service redis, which box does not run"):
        backup.check_fits({**manifest, "tier": "1"}, record, ["gateway", "proxy"])


def test_a_cloud_restore_keeps_the_local_env_copy_in_step(isolated_env: Path) -> None:
    import stat

    from hybridctl.catalog.deployments import deployment_dir
    from hybridctl.ops.restore import _keep_local_env

    restored = b"LITELLM_MASTER_KEY=sk-restored-key-0123456789\nREDIS_PASSWORD=restored-pw-42\n"
    _keep_local_env(_record("web", provider="hetzner"), restored)
    copy = deployment_dir("web") / ".env"
    assert "LITELLM_MASTER_KEY=sk-restored-key-0123456789" in copy.read_text()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    _keep_local_env(_record("box", provider="local"), restored)  # its bundle's .env is the box's
    assert not (deployment_dir("box") / ".env").exists()


def test_a_report_is_healthy_with_warnings_and_unhealthy_with_a_failure() -> None:
    report = check.CheckReport("box", "2", "local", "here", "now")
    report.add("service redis", "ok", "running (healthy)")
    report.add("service gateway", "warn", "running (starting)")
    assert report.healthy and report.to_json()["healthy"] is True
    report.add("service llm", "fail", "exited (137)")
    assert not report.healthy and [i.what for i in report.problems] == ["service llm"]


def test_status_check_needs_a_name_and_a_known_deployment() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["status", "--check"])
    assert done.exit_code == 2 and "--check needs a deployment name" in done.output
    for args in (["status", "nope", "--check"], ["logs", "nope"], ["backup", "nope", "--out", "x"]):
        done = runner.invoke(app, args)
        assert done.exit_code == 2 and "nope" in done.output, args


def test_a_domain_deployment_is_checked_against_the_systems_trust_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime, timedelta

    from hybridctl.deploy.box import serving

    seen: list[object] = []

    def https_ok(url: str, ca_file: object, timeout: float = 5.0) -> bool:
        seen.append(ca_file)
        return True

    monkeypatch.setattr(serving, "https_ok", https_ok)
    leaf = datetime.now(UTC) + timedelta(days=60)
    monkeypatch.setattr(probes, "tls_facts", lambda url, ca: probes.TlsFacts(leaf, None))
    record = _record("pub", provider="hetzner").model_copy(
        update={"outputs": {"domain": "llm.example.com"}}
    )
    assert check.public_certificate(record)
    report = check.CheckReport("pub", "2", "hetzner", "here", "now")
    check._gateway(report, "https://llm.example.com", None, public=True)
    assert seen == [None]  # no CA file: the system's trust store verifies an ACME certificate
    assert [item.level for item in report.items] == ["ok", "ok"]
    assert "system's trust store" in report.items[0].detail
    internal = check.CheckReport("int", "2", "hetzner", "here", "now")
    check._gateway(internal, "https://203.0.113.7", None)
    assert internal.items[0].level == "fail" and "CA certificate" in internal.items[0].detail
