"""hybridctl.remote.bench against a real OpenSSH server on loopback, host key checking on."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hybridctl.errors import InputError, OperationFailed
from hybridctl.remote.bench import (
    SshClient,
    SshSettings,
    SshTarget,
    find_remote_python,
    resolve_known_hosts,
    run_remote_bench,
)
from tests.ssh_fixtures import SshServer, silent_listener

pytest.importorskip("llama_cpp")


def client_for(
    server: SshServer, known_hosts: Path, *, accept_new: bool = False, **overrides: object
) -> SshClient:
    settings = SshSettings(
        known_hosts=known_hosts,
        accept_new_host_key=accept_new,
        identity_file=server.identity_file,
        config_file="none",  # the test machine's own ssh config must not change the outcome
        connect_timeout_s=10,
        **overrides,  # type: ignore[arg-type]
    )
    return SshClient(SshTarget.parse(server.target), settings)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


def small_plan(model: Path, *names: str, promised: float | None = None) -> dict:
    return {
        "models": [
            {"name": name, "path": str(model), "promised_tokens_per_s": promised} for name in names
        ],
        "repetitions": 2,
        "prompt_tokens": 16,
        "gen_tokens": 8,
        "measure_bandwidth": False,
        "threads": 1,  # two spinning OpenMP threads can stall on a busy 2-core machine
        "tier": None,
    }


def test_runs_a_command_with_strict_host_key_checking(sshd: SshServer) -> None:
    client = client_for(sshd, sshd.known_hosts)
    command = client.command("true")
    assert "StrictHostKeyChecking=yes" in command
    assert f"UserKnownHostsFile={sshd.known_hosts}" in command
    assert "BatchMode=yes" in command and "GlobalKnownHostsFile=/dev/null" in command
    assert client.check("echo hello from $(id -un)", what="echo") == f"hello from {sshd.user}\n"


def test_bench_runs_over_ssh_and_reads_the_result_back(
    sshd: SshServer,
    tiny_model: Path,
) -> None:
    lines: list[str] = []
    plan = small_plan(tiny_model, "tiny-a")
    plan["models"].append({**plan["models"][0], "name": "tiny-b", "promised_tokens_per_s": 1e9})
    run = run_remote_bench(
        client_for(sshd, sshd.known_hosts),
        plan,
        remote_python=sys.executable,
        progress=lines.append,
    )
    assert run.exit_code == 1  # tiny-b cannot reach a billion tokens/s
    assert not run.connection_lost and run.remote_dir is None
    assert run.completed_models == ["tiny-a", "tiny-b"] and run.missing_models == []
    assert run.result is not None
    rows = {row["name"]: row for row in run.result["rows"]}
    assert rows["tiny-a"]["status"] == "ok" and rows["tiny-a"]["verdict"]["ok"]
    assert rows["tiny-a"]["generation"]["tokens_per_s"]["mean"] > 0
    assert rows["tiny-a"]["repetitions"] == 2
    assert not run.result["verdict"]["ok"]
    assert "tiny-b: generation" in run.result["verdict"]["shortfalls"][0]
    # progress streamed live from the box, including the bench's own lines
    assert any(line.startswith("copying the bench") for line in lines)
    assert any("running in a child process" in line for line in lines)
    # the model file was uploaded once, though two plan entries use it
    assert sum("copying tiny.gguf" in line for line in lines) == 1


def test_wrong_host_key_is_refused(sshd: SshServer) -> None:
    before = sshd.wrong_known_hosts.read_text()
    with pytest.raises(OperationFailed) as caught:
        client_for(sshd, sshd.wrong_known_hosts).run("true")
    assert caught.value.exit_code == 1
    assert "does not match the one pinned" in caught.value.message
    assert "SHA256:" in caught.value.message  # the fingerprint the server presented
    assert "ssh-keygen -R" in (caught.value.hint or "")
    # accepting new keys never overrides a changed one, and the pinned file is untouched
    with pytest.raises(OperationFailed, match="does not match"):
        client_for(sshd, sshd.wrong_known_hosts, accept_new=True).run("true")
    assert sshd.wrong_known_hosts.read_text() == before


def test_unknown_host_refused_unless_explicitly_accepted(
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    with pytest.raises(InputError) as caught:
        client_for(sshd, known_hosts).run("true")
    assert "is not in" in caught.value.message and "refusing to connect" in caught.value.message
    assert "--accept-new-host-key" in (caught.value.hint or "")
    assert known_hosts.read_text() == ""

    client = client_for(sshd, known_hosts, accept_new=True)
    assert "StrictHostKeyChecking=accept-new" in client.command("true")
    assert client.check("echo pinned", what="echo") == "pinned\n"
    pinned = known_hosts.read_text()
    assert sshd.host_public_key.split()[1] in pinned
    # from now on the strict check passes against the key pinned on first contact
    assert client_for(sshd, known_hosts).check("echo again", what="echo") == "again\n"


def test_missing_known_hosts_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="does not exist"):
        resolve_known_hosts(missing, None, accept_new=False)
    with pytest.raises(InputError, match="deployment's known_hosts"):
        resolve_known_hosts(None, missing, accept_new=False)
    assert resolve_known_hosts(missing, None, accept_new=True).exists()
    # bare --host: hybridctl's own, initially empty, known_hosts (never ~/.ssh/known_hosts)
    own = resolve_known_hosts(None, None, accept_new=False)
    assert own.exists() and own.read_text() == "" and ".ssh" not in str(own)


def test_login_refused_for_an_unknown_user_key(sshd: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
        check=True,
        capture_output=True,
    )
    client = client_for(sshd, sshd.known_hosts)
    client.settings = SshSettings(
        known_hosts=sshd.known_hosts, identity_file=stranger, config_file="none"
    )
    with pytest.raises(OperationFailed, match=r"login to .* was refused") as caught:
        client.run("true")
    assert "authorized_keys" in (caught.value.hint or "")


def test_connect_timeout_fails_cleanly() -> None:
    listener, port = silent_listener()  # accepts, never sends an SSH banner
    try:
        settings = SshSettings(
            known_hosts=Path("/dev/null"), config_file="none", connect_timeout_s=1
        )
        client = SshClient(SshTarget.parse(f"root@127.0.0.1:{port}"), settings)
        with pytest.raises(OperationFailed, match="timed out") as caught:
            client.run("true", timeout_s=60)
        assert "firewall" in (caught.value.hint or "")
    finally:
        listener.close()


def test_connection_refused_is_explained(tmp_path: Path) -> None:
    from tests.ssh_fixtures import free_port

    settings = SshSettings(known_hosts=tmp_path / "kh", config_file="none", connect_timeout_s=5)
    client = SshClient(SshTarget.parse(f"root@127.0.0.1:{free_port()}"), settings)
    with pytest.raises(OperationFailed, match="refused the SSH connection"):
        client.run("true")


def kill_sessions(server: SshServer) -> None:
    for pid in server.session_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_dropped_connection_keeps_the_models_that_finished(
    sshd: SshServer,
    tiny_model: Path,
) -> None:
    dropped = threading.Event()

    def progress(line: str) -> None:
        # The bench on the box starts the second model: cut every SSH session, as a network
        # failure would.
        if line.startswith("[1/1] second") and not dropped.is_set():
            dropped.set()
            kill_sessions(sshd)

    run = run_remote_bench(
        client_for(sshd, sshd.known_hosts),
        small_plan(tiny_model, "first", "second"),
        remote_python=sys.executable,
        progress=progress,
    )
    assert dropped.is_set()
    assert run.connection_lost and run.exit_code == 255
    assert run.completed_models == ["first"]
    assert run.missing_models == ["second"]
    assert run.result is not None and [r["name"] for r in run.result["rows"]] == ["first"]
    # the box's work directory is left for the user (the "box" is this machine: tidy up)
    assert run.remote_dir and Path(run.remote_dir, "result-0.json").is_file()
    shutil.rmtree(run.remote_dir)


def test_a_refused_plan_still_removes_the_work_directory(
    sshd: SshServer,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hybridctl.remote import bench as remote

    made: list[str] = []
    make_workdir = remote.make_workdir

    def recording_make_workdir(client: SshClient) -> str:
        made.append(make_workdir(client))
        return made[-1]

    monkeypatch.setattr(remote, "make_workdir", recording_make_workdir)
    plan = {**small_plan(tiny_model, "tiny"), "repetitions": 0}  # the bench refuses it (exit 2)
    with pytest.raises(InputError, match="refused the plan for tiny"):
        run_remote_bench(client_for(sshd, sshd.known_hosts), plan, remote_python=sys.executable)
    (workdir,) = made
    assert workdir.startswith("/") and not Path(workdir).exists()  # the "box" is this machine

    with pytest.raises(InputError, match="refused its options"):
        remote.run_remote_serve(
            client_for(sshd, sshd.known_hosts),
            ["--url", "http://127.0.0.1:9", "--clients", "0"],
            remote_python=sys.executable,
        )
    assert len(made) == 2 and not Path(made[1]).exists()


def test_keepalive_timeout_when_the_server_stops_answering(
    sshd: SshServer,
) -> None:
    """A box that stops answering (not a closed socket) is noticed by ServerAlive probes."""
    client = client_for(sshd, sshd.known_hosts, server_alive_interval_s=1, server_alive_count_max=2)
    stopped: list[int] = []

    def freeze(line: str) -> None:
        if line == "ready" and not stopped:
            for pid in sshd.session_pids():
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)

    try:
        code, _out, tail = client.stream("echo ready >&2; sleep 30", freeze, timeout_s=60)
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert stopped
    assert code == 255
    assert "not responding" in tail or "Timeout" in tail


def test_missing_llama_cpp_on_the_box_is_explained(
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    client = client_for(sshd, sshd.known_hosts)
    with pytest.raises(OperationFailed, match="llama-cpp-python or psutil is not installed") as e:
        find_remote_python(client, str(bare / "bin" / "python"), False, lambda _line: None)
    assert "pip install llama-cpp-python psutil" in (e.value.hint or "")
    assert "--install-deps" in (e.value.hint or "")
    assert find_remote_python(client, sys.executable, False, lambda _line: None) == sys.executable


@pytest.mark.parametrize(
    "spec, host, user, port",
    [
        ("root@203.0.113.7", "203.0.113.7", "root", None),
        ("admin@box.example.com:2222", "box.example.com", "admin", 2222),
        ("ubuntu@[2001:db8::1]:22", "2001:db8::1", "ubuntu", 22),
        ("203.0.113.7", "203.0.113.7", None, None),
    ],
)
def test_target_parsing(spec: str, host: str, user: str | None, port: int | None) -> None:
    target = SshTarget.parse(spec)
    assert (target.host, target.user, target.port) == (host, user, port)


@pytest.mark.parametrize("spec", ["", "root@", "-oProxyCommand=x", "a b@c", "root@host:99999"])
def test_bad_targets_are_refused(spec: str) -> None:
    with pytest.raises(InputError):
        SshTarget.parse(spec)
