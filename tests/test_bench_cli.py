"""`hybridctl bench` end to end: here and over SSH on a tiny model, load test, --update-catalog."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.paths import default_catalog_path
from tests.ssh_fixtures import SshServer

pytest.importorskip("llama_cpp")

TINYLLAMA = "tinyllama-1.1b-chat-q4_k_m"
# One thread: on a busy 2-core machine two spinning OpenMP threads can stall for seconds.
SMALL = ["--repetitions", "1", "--prompt-tokens", "8", "--gen-tokens", "4", "--threads", "1"]
SMALL += ["--skip-bandwidth"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_local_bench_of_a_tier_with_a_local_model_copy(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code, stdout, stderr = invoke(
        "--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", "--local", *SMALL, "--json",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)
    assert json.loads(out.read_text()) == result
    (row,) = result["rows"]
    assert row["name"] == TINYLLAMA and row["status"] == "ok"
    tier_1 = load_catalog(default_catalog_path()).tier("1")
    promised = next(m.promised_tokens_per_s for m in tier_1.models if m.model == TINYLLAMA)
    assert row["verdict"]["promised_tokens_per_s"] == promised
    assert row["memory"]["budget_mib"] > row["memory"]["peak_rss_mib"]
    assert result["verdict"] == {"ok": True, "shortfalls": []}
    assert "running in a child process" in stderr  # progress streamed from the bench


def test_table_and_verdict_lines(tiny_model: Path) -> None:
    code, stdout, _ = invoke("--model", str(tiny_model), *SMALL)
    assert code == 0
    assert "tg tok/s" in stdout and "tiny" in stdout
    assert "verdict: every promise holds" in stdout


def shortfall_catalog(path: Path) -> Path:
    """A catalog copy in which tier 1 promises TinyLlama a speed no machine reaches."""
    text = default_catalog_path().read_text()
    model_block = text.index(f"  {TINYLLAMA}:")
    size = re.compile(r"file_size_mb: [0-9.]+")
    assert size.search(text, model_block)
    text = text[:model_block] + size.sub("file_size_mb: 0.01", text[model_block:], count=1)
    tier_1 = text.index("model: " + TINYLLAMA)
    promise = re.compile(r"promised_tokens_per_s: [0-9.]+")
    text = text[:tier_1] + promise.sub("promised_tokens_per_s: 1000000", text[tier_1:], count=1)
    path.write_text(text)
    load_catalog(path)  # still a valid catalog: the roofline of a 10 kB model is very high
    return path


def test_exit_1_and_the_gap_when_a_promise_falls_short(tiny_model: Path, tmp_path: Path) -> None:
    catalog = shortfall_catalog(tmp_path / "tiers.yaml")
    code, stdout, stderr = invoke(
        "--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL, "--catalog", str(catalog)
    )
    assert code == 1, stderr
    assert "SHORT" in stdout and "below the promised 1e+06" in stdout
    assert "verdict: falls short" in stdout


def catalog_naming_file(path: Path, model_file: Path) -> tuple[Path, str]:
    """A catalog copy whose TinyLlama entry carries model_file's checksum (it is "its" file)."""
    import hashlib

    original = default_catalog_path().read_text()
    old = load_catalog(default_catalog_path()).models[TINYLLAMA].sha256
    assert old and original.count(old) == 1
    text = original.replace(old, hashlib.sha256(model_file.read_bytes()).hexdigest())
    path.write_text(text)
    return path, text


def test_update_catalog_records_measurements_and_keeps_the_rest(
    tiny_model: Path, tmp_path: Path
) -> None:
    catalog, original = catalog_naming_file(tmp_path / "tiers.yaml", tiny_model)
    args = ["--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL]
    code, _, stderr = invoke(*args, "--update-catalog", "--catalog", str(catalog))
    assert code == 0, stderr
    assert f"recorded measurements for {TINYLLAMA}" in stderr
    updated = catalog.read_text()
    # Only lines were added: every original line (comments included) is still there, in order.
    added = [line for line in updated.splitlines() if line not in original.splitlines()]
    assert added[0].strip() == "measurements:" and len(added) == 2
    assert [ln for ln in updated.splitlines() if ln not in added] == original.splitlines()
    model = load_catalog(catalog).models[TINYLLAMA]
    (measurement,) = model.measurements
    assert measurement.tokens_per_s > 0 and measurement.tier == "1"
    assert measurement.llama_cpp and measurement.machine and measurement.date
    assert measurement.peak_rss_mib is not None
    assert model.claims == load_catalog(default_catalog_path()).models[TINYLLAMA].claims
    # a second run appends to the same list
    code, _, _ = invoke(*args, "--update-catalog", "--catalog", str(catalog))
    assert code == 0
    raw = yaml.safe_load(catalog.read_text())
    assert len(raw["models"][TINYLLAMA]["measurements"]) == 2


def test_update_catalog_skips_a_stand_in_file(tiny_model: Path, tmp_path: Path) -> None:
    """A synthetic file in place of the catalog's is measured, but not recorded as the model."""
    catalog = tmp_path / "tiers.yaml"
    catalog.write_text(default_catalog_path().read_text())
    before = catalog.read_text()
    args = ["--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL]
    code, _, stderr = invoke(*args, "--update-catalog", "--catalog", str(catalog))
    assert code == 0, stderr
    assert "not recorded" in stderr and "not the catalog's" in stderr
    assert catalog.read_text() == before


def test_update_catalog_refuses_the_catalog_installed_with_the_package(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed from a wheel, the default catalog is site-packages/hybridctl/data/tiers.yaml."""
    from hybridctl import paths

    package = tmp_path / "site-packages" / "hybridctl"
    (package / "data").mkdir(parents=True)
    installed = package / "data" / "tiers.yaml"
    installed.write_text(default_catalog_path().read_text())
    before = installed.read_text()
    monkeypatch.setattr(paths, "_PACKAGE_DIR", package)
    assert default_catalog_path() == installed
    code, stdout, stderr = invoke(
        "--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL, "--update-catalog"
    )
    assert code == 2, stderr
    assert "would write into the catalog installed with hybridctl" in stderr
    assert "--catalog" in stderr and str(installed) in stderr
    assert "running in a child process" not in stderr and stdout == ""  # refused up front
    assert installed.read_text() == before
    # the writer itself refuses it too, whoever calls it
    from hybridctl.catalog.measurements import MeasurementUpdate, record_measurements
    from hybridctl.errors import InputError

    with pytest.raises(InputError, match="installed with hybridctl"):
        record_measurements(installed, [MeasurementUpdate(TINYLLAMA, dict(MEASURED))])
    assert installed.read_text() == before


def test_a_source_checkouts_catalog_stays_updatable() -> None:
    from hybridctl.catalog.measurements import check_catalog_writable

    assert default_catalog_path().resolve().parent.name != "data"  # the repo root's tiers.yaml
    check_catalog_writable(default_catalog_path())  # does not raise


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey user@host\n")
    code, stdout, stderr = invoke("--model", str(key), *SMALL)
    assert code == 2, stderr
    assert f"model file {key} is not a GGUF file" in stderr
    assert "running in a child process" not in stderr and stdout == ""
    code, _, stderr = invoke("--tier", "1", "--model", f"{TINYLLAMA}={key}", *SMALL)
    assert code == 2 and "is not a GGUF file" in stderr
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    code, _, stderr = invoke("--model", str(empty), *SMALL)
    assert code == 2 and f"model file {empty} is not a GGUF file" in stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tier", "99"], "unknown tier '99'"),
        (["--model", "/nonexistent/model.gguf"], "does not exist"),
        (["--local", "--host", "root@127.0.0.1"], "choose one of --local, --host"),
        (["--model", "x.gguf", "--known-hosts", "kh"], "need --host or --deployment"),
        (["--deployment", "nosuch"], "no deployment named 'nosuch'"),
        (["--host", "root@bad host"], "is not a valid SSH target"),
        ([], "nothing to bench"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    code, _, stderr = invoke(*args)
    assert code == 2
    assert message in stderr


def test_model_id_not_served_by_the_tier(tiny_model: Path) -> None:
    code, _, stderr = invoke("--tier", "1", "--model", f"phi-2-q4_k_m={tiny_model}")
    assert code == 2 and "names a model tier 1 does not serve" in stderr


def ssh_args(server: SshServer, known_hosts: Path) -> list[str]:
    return [
        "--host", server.target, "--known-hosts", str(known_hosts),
        "--identity", str(server.identity_file), "--ssh-config", "none",
        "--remote-python", sys.executable,
    ]  # fmt: skip


def test_bench_over_ssh(sshd: SshServer, tiny_model: Path) -> None:
    code, stdout, stderr = invoke(
        "--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL, "--json",
        *ssh_args(sshd, sshd.known_hosts),
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["rows"][0]["name"] == TINYLLAMA and result["rows"][0]["status"] == "ok"
    assert "copying the bench" in stderr and "[1/1] " + TINYLLAMA in stderr


def test_over_ssh_a_wrong_host_key_is_refused(sshd: SshServer, tiny_model: Path) -> None:
    code, stdout, stderr = invoke(
        "--model", str(tiny_model), *ssh_args(sshd, sshd.wrong_known_hosts)
    )
    assert code == 1
    assert "does not match the one pinned" in stderr and "refusing to connect" in stderr
    assert stdout == ""


def test_over_ssh_an_unknown_host_needs_the_flag(
    sshd: SshServer,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    args = ["--model", str(tiny_model), *SMALL, *ssh_args(sshd, known_hosts)]
    code, _, stderr = invoke(*args)
    assert code == 2
    assert "is not in" in stderr and "--accept-new-host-key" in stderr
    code, _, stderr = invoke(*args, "--accept-new-host-key")
    assert code == 0, stderr
    assert "StrictHostKeyChecking=accept-new" in stderr  # it says so
    assert sshd.host_public_key.split()[1] in known_hosts.read_text()


def test_serve_load_test_local_and_on_the_box(
    sshd: SshServer,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    from tests.test_loadtest import start_server, stop

    process, url = start_server(
        tiny_model, tmp_path / "server.log", "--interrupt_requests", "False"
    )
    try:
        base = ["--serve", url, "--requests", "4", "--max-tokens", "4"]
        code, stdout, stderr = invoke(*base, "--tier", "1", "--json")
        assert code == 0, stderr
        result = json.loads(stdout)
        # the tier's promised concurrency sets the number of clients
        assert (
            result["clients"]
            == load_catalog(default_catalog_path()).tier("1").promises.max_concurrent
        )
        assert result["requests_ok"] == 4
        assert result["verdict"]["ok"]

        code, stdout, stderr = invoke(*base, "--clients", "1", "--target-rpm", "1e9")
        assert code == 1
        assert "SHORT:" in stdout and "requests/min is short of the 1e+09 target" in stdout

        # On the box (the model server listens on loopback there): bench.pyz serve over SSH.
        code, stdout, stderr = invoke(
            *base, "--clients", "2", "--json", *ssh_args(sshd, sshd.known_hosts)
        )
        assert code == 0, stderr
        assert json.loads(stdout)["requests_ok"] == 4
        assert "copying the bench" in stderr
    finally:
        stop(process)


def save_deployment(name: str, server: SshServer, host_public_key: str) -> None:
    """A deployment record as `hybridctl deploy` leaves it, pinning host_public_key."""
    from hybridctl.catalog.deployments import DeploymentRecord, known_hosts_path, now, save_record
    from hybridctl.deploy.box.hostkeys import write_known_hosts

    known_hosts = write_known_hosts(known_hosts_path(name), name, host_public_key, ["127.0.0.1"])
    save_record(
        DeploymentRecord(
            name=name, provider="hetzner", tier="1", region="fsn1", instance_type="cpx11",
            nodes=1, admin_cidr="127.0.0.1/32", ssh_public_key="ssh-ed25519 AAAA test",
            host_key_public=host_public_key, host_key_fingerprint="SHA256:test",
            known_hosts=str(known_hosts), backend_url="file://", monthly_usd=4.5,
            status="deployed", created=now(), updated=now(),
            outputs={"ip": "127.0.0.1", "ssh_user": server.user},
        )
    )  # fmt: skip


def test_bench_a_deployment_by_name(sshd: SshServer, tiny_model: Path, tmp_path: Path) -> None:
    # The deployment's server listens on 22 in real life; an ssh config points 127.0.0.1 at
    # the test server's port, the way a user's ~/.ssh/config might.
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  Port {sshd.port}\n")
    args = ["--model", str(tiny_model), *SMALL, "--ssh-config", str(config)]
    args += ["--identity", str(sshd.identity_file), "--remote-python", sys.executable]
    args += ["--skip-serving"]  # a record with no endpoint: the load test is test_day_two's

    save_deployment("test-box", sshd, sshd.host_public_key)
    code, stdout, stderr = invoke("--deployment", "test-box", *args)
    assert code == 0, stderr
    assert "verdict: every promise holds" in stdout

    impostor = sshd.wrong_known_hosts.read_text().split()[1:3]
    save_deployment("bad-box", sshd, " ".join(impostor))
    code, _, stderr = invoke("--deployment", "bad-box", *args)
    assert code == 1 and "does not match the one pinned" in stderr

    from hybridctl.catalog.deployments import known_hosts_path

    known_hosts_path("test-box").unlink()
    code, _, stderr = invoke("--deployment", "test-box", *args)
    assert code == 2 and "known_hosts file" in stderr and "is missing" in stderr


def test_bench_a_deployment_takes_its_tier_from_the_record(
    sshd: SshServer,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  Port {sshd.port}\n")
    save_deployment("tier-box", sshd, sshd.host_public_key)  # a tier 1 deployment
    code, stdout, stderr = invoke(
        "--deployment", "tier-box", "--model", f"{TINYLLAMA}={tiny_model}", *SMALL, "--json",
        "--ssh-config", str(config), "--identity", str(sshd.identity_file),
        "--remote-python", sys.executable, "--skip-serving",
    )  # fmt: skip
    assert code == 0, stderr
    assert "tier 1 (deployment tier-box's" in stderr
    result = json.loads(stdout)
    assert result["settings"]["tier"] == "1"
    (row,) = result["rows"]
    tier_1 = load_catalog(default_catalog_path()).tier("1")
    promised = next(m.promised_tokens_per_s for m in tier_1.models if m.model == TINYLLAMA)
    assert row["name"] == TINYLLAMA and row["verdict"]["promised_tokens_per_s"] == promised


def test_serve_on_the_box_passes_the_api_key_on_stdin(
    sshd: SshServer,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_loadtest import start_server, stop

    process, url = start_server(tiny_model, tmp_path / "server.log", "--api_key", "k-42")
    try:
        monkeypatch.setenv("MY_GATEWAY_KEY", "k-42")
        args = ["--serve", url, "--clients", "1", "--requests", "2", "--max-tokens", "4"]
        args += ["--json", *ssh_args(sshd, sshd.known_hosts)]
        code, stdout, stderr = invoke(*args, "--api-key-env", "MY_GATEWAY_KEY")
        assert code == 0, stderr
        assert json.loads(stdout)["requests_ok"] == 2
        code, stdout, _ = invoke(*args)  # no key: the server says 401
        assert code == 1 and json.loads(stdout)["error_samples"][0].startswith("HTTP 401")
    finally:
        stop(process)


MEASURED = {
    "tokens_per_s": 12.5,
    "machine": "test box",
    "llama_cpp": "0.3.36",
    "date": "2026-11-22",
}
SMALL_YAML = """\
# a comment that must stay
models:
  a:
    name: A   # trailing comment
    claims:
      - {tokens_per_s: 1, hardware: x}
  b:
    name: B
    measurements: []
  c:
    name: C
    measurements:
      - {tokens_per_s: 3, machine: old}

other: 1
"""


@pytest.mark.parametrize("model", ["a", "b", "c"])
def test_measurement_writer_edits_only_the_model(model: str) -> None:
    from hybridctl.catalog.measurements import insert_measurement

    text = insert_measurement(SMALL_YAML, model, MEASURED)
    data = yaml.safe_load(text)
    previous = yaml.safe_load(SMALL_YAML)["models"][model].get("measurements", [])
    assert data["models"][model]["measurements"] == [*previous, MEASURED]
    for other in {"a", "b", "c"} - {model}:
        assert data["models"][other] == yaml.safe_load(SMALL_YAML)["models"][other]
    assert data["other"] == 1
    assert "# a comment that must stay" in text and "# trailing comment" in text


def test_measurement_writer_refuses_unknown_models() -> None:
    from hybridctl.catalog.measurements import insert_measurement
    from hybridctl.errors import InputError

    with pytest.raises(InputError, match="'zz' is not in the catalog"):
        insert_measurement(SMALL_YAML, "zz", MEASURED)


def test_dropped_connection_keeps_partial_results(
    sshd: SshServer,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import shutil
    import signal

    from hybridctl.cli import bench_steps

    second = tmp_path / "second.gguf"
    shutil.copy(tiny_model, second)
    shown = bench_steps.progress

    def progress(line: str) -> None:
        shown(line)
        if line.startswith("[1/1] second"):  # the box starts the second model: cut the link
            for pid in sshd.session_pids():
                os.kill(pid, signal.SIGKILL)

    monkeypatch.setattr(bench_steps, "progress", progress)
    out = tmp_path / "partial.json"
    args = ["--model", str(tiny_model), "--model", str(second), *SMALL, "--out", str(out)]
    code, stdout, stderr = invoke(*args, *ssh_args(sshd, sshd.known_hosts))
    assert code == 1
    assert "was lost during the bench (completed: tiny; not completed: second)" in stderr
    assert "partial result" in stdout
    assert [row["name"] for row in json.loads(out.read_text())["rows"]] == ["tiny"]
    remote_dir = re.search(r"work directory (/\S+) holds", stderr)
    assert remote_dir
    shutil.rmtree(remote_dir.group(1))  # the "box" is this machine
