"""SSH transport: copy the bench to a box, run it there, stream its progress, read its JSON back.

Uses the system's OpenSSH client through subprocess with argument lists (no local shell). The
remote side always gets a command string (that is how SSH works); every variable part of it is
quoted with shlex.quote. Host keys are checked strictly against one known_hosts file; a new key
is accepted only when the caller asks for it explicitly.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl.errors import HybridctlError, InputError, OperationFailed
from hybridctl.paths import state_dir

SSH_EXIT_ERROR = 255
DEFAULT_CONNECT_TIMEOUT_S = 15
DEFAULT_SERVER_ALIVE_INTERVAL_S = 10
DEFAULT_SERVER_ALIVE_COUNT_MAX = 3
DEFAULT_RUN_TIMEOUT_S = 4 * 3600
DEFAULT_REMOTE_PYTHON = "python3"
REMOTE_VENV = ".local/share/hybridctl-bench/venv"  # relative to the remote user's home
DEPS_CHECK = "import llama_cpp, psutil"
DEPS_INSTALL_HINT = "pip install llama-cpp-python psutil"
_STDERR_TAIL_LINES = 40

Progress = Callable[[str], None]


def _ignore(_line: str) -> None:
    return None


@dataclass(frozen=True)
class SshTarget:
    """Who to log in as, where: user@host[:port] (IPv6 as user@[addr]:port)."""

    host: str
    user: str | None = None
    port: int | None = None  # None: ssh's default or the user's ssh config decides

    @classmethod
    def parse(cls, spec: str) -> SshTarget:
        match = re.fullmatch(
            r"(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
            r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
            r"(?::(?P<port>\d{1,5}))?",
            spec.strip(),
        )
        if not match or (match.group("host") or "").startswith("-"):
            raise InputError(
                f"--host {spec!r} is not a valid SSH target",
                hint="Write it as user@host, user@host:port or user@[ipv6]:port "
                "(e.g. --host root@203.0.113.7).",
            )
        port = int(match.group("port")) if match.group("port") else None
        if port is not None and not 1 <= port <= 65535:
            raise InputError(f"port {port} in --host {spec!r} is out of range 1-65535")
        host = match.group("v6") or match.group("host")
        return cls(host=host, user=match.group("user"), port=port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{host}:{self.port}" if self.port else host
        return f"{self.user}@{where}" if self.user else where


@dataclass(frozen=True)
class SshSettings:
    """How to connect: the one known_hosts file that decides, keys, and time limits."""

    known_hosts: Path
    accept_new_host_key: bool = False
    identity_file: Path | None = None
    host_key_alias: str | None = None
    config_file: str | None = None  # ssh -F; None reads the user's ~/.ssh/config as usual
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S
    server_alive_interval_s: int = DEFAULT_SERVER_ALIVE_INTERVAL_S
    server_alive_count_max: int = DEFAULT_SERVER_ALIVE_COUNT_MAX


def default_known_hosts() -> Path:
    """hybridctl's own known_hosts for hosts given with --host (never ~/.ssh/known_hosts)."""
    return state_dir() / "known_hosts"


def resolve_known_hosts(
    explicit: Path | None, deployment_file: Path | None, accept_new: bool
) -> Path:
    """The known_hosts file to check against; missing is an error unless accepting new keys."""
    path = explicit or deployment_file or default_known_hosts()
    if path.exists():
        return path
    if explicit is not None and not accept_new:
        raise InputError(
            f"known_hosts file {path} does not exist",
            hint="Give an existing file with --known-hosts, or pass --accept-new-host-key to pin "
            "the key the host presents on first contact.",
        )
    if deployment_file is not None and not accept_new:
        raise InputError(
            f"the deployment's known_hosts file {path} is missing, so its host key cannot be "
            "checked",
            hint="Re-run `hybridctl deploy` for this deployment to pin its key again, or give one "
            "with --known-hosts.",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o644)
    return path


class SshClient:
    """Runs commands on one host with the system ssh client and strict host key checking."""

    def __init__(self, target: SshTarget, settings: SshSettings) -> None:
        binary = shutil.which("ssh")
        if binary is None:
            raise OperationFailed(
                "the OpenSSH client (ssh) is not installed",
                hint="Install it (Debian/Ubuntu: apt-get install openssh-client).",
            )
        self.ssh = binary
        self.target = target
        self.settings = settings

    def command(self, remote_command: str) -> list[str]:
        """The full ssh argument list for one remote command."""
        s = self.settings
        checking = "accept-new" if s.accept_new_host_key else "yes"
        args = [self.ssh]
        if s.config_file:
            args += ["-F", s.config_file]
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": checking,
            "UserKnownHostsFile": str(s.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "HashKnownHosts": "no",
            "UpdateHostKeys": "no",
            "ConnectTimeout": str(s.connect_timeout_s),
            "ServerAliveInterval": str(s.server_alive_interval_s),
            "ServerAliveCountMax": str(s.server_alive_count_max),
        }
        if s.host_key_alias:
            options["HostKeyAlias"] = s.host_key_alias
        if s.identity_file:
            options["IdentitiesOnly"] = "yes"
            args += ["-i", str(s.identity_file)]
        for key, value in options.items():
            args += ["-o", f"{key}={value}"]
        if self.target.port:
            args += ["-p", str(self.target.port)]
        args += ["-T", "--", self.target.destination, remote_command]
        return args

    def run(
        self, remote_command: str, *, stdin_path: Path | None = None, timeout_s: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command and capture its output; SSH failures raise, the command's exit is kept."""
        stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
        try:
            completed = subprocess.run(
                self.command(remote_command),
                stdin=stdin,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OperationFailed(
                f"SSH command on {self.target} did not finish within {timeout_s:g} s",
                hint="Check the box is up and not overloaded; raise the limit if it is just slow.",
            ) from exc
        finally:
            if stdin_path:
                stdin.close()  # type: ignore[union-attr]
        if completed.returncode == SSH_EXIT_ERROR:
            raise ssh_failure(completed.stderr.decode("utf-8", "replace"), self)
        return completed

    def check(self, remote_command: str, *, what: str, timeout_s: float = 300) -> str:
        """Run a command that must succeed; return its stdout."""
        completed = self.run(remote_command, timeout_s=timeout_s)
        if completed.returncode != 0:
            raise OperationFailed(
                f"{what} failed on {self.target} (exit {completed.returncode}): "
                f"{_tail(completed.stderr.decode('utf-8', 'replace'))}",
                hint="Run the same step by hand over ssh to see the whole error.",
            )
        return completed.stdout.decode("utf-8", "replace")

    def upload(self, local: Path, remote_path: str) -> None:
        """Copy one file to the box through ssh's stdin (no scp/sftp subsystem needed)."""
        remote = f"umask 077 && cat > {shlex.quote(remote_path)}"
        timeout = 300 + local.stat().st_size / 1_000_000  # generous: >= 1 MB/s
        completed = self.run(remote, stdin_path=local, timeout_s=timeout)
        if completed.returncode != 0:
            raise OperationFailed(
                f"copying {local.name} to {self.target}:{remote_path} failed: "
                f"{_tail(completed.stderr.decode('utf-8', 'replace'))}",
                hint="Check free disk space in the box's temporary directory.",
            )

    def stream(
        self,
        remote_command: str,
        on_line: Progress,
        timeout_s: float,
        *,
        stdin_data: bytes | None = None,
    ) -> tuple[int, str, str]:
        """Run a long command, handing each stderr line to on_line as it arrives.

        Returns (exit code, stdout, last stderr lines). Exit 255 is returned, not raised, so
        the caller can keep what the command left behind when the connection drops.
        """
        process = subprocess.Popen(
            self.command(remote_command),
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if stdin_data is not None:
            assert process.stdin is not None
            try:
                process.stdin.write(stdin_data)
                process.stdin.close()
            except OSError:
                pass  # the connection failed already; its exit code says how
        tail: list[str] = []
        stdout_chunks: list[bytes] = []

        def pump_stderr() -> None:
            assert process.stderr is not None
            for raw in iter(process.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(line)
                del tail[:-_STDERR_TAIL_LINES]
                on_line(line)

        def pump_stdout() -> None:
            assert process.stdout is not None
            stdout_chunks.append(process.stdout.read())

        readers = [threading.Thread(target=pump_stderr), threading.Thread(target=pump_stdout)]
        for reader in readers:
            reader.daemon = True
            reader.start()
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        for reader in readers:
            reader.join(timeout=5)
        stdout = b"".join(stdout_chunks).decode("utf-8", "replace")
        if code is None:
            tail.append(f"hybridctl: stopped waiting after {timeout_s:g} s")
            return SSH_EXIT_ERROR, stdout, "\n".join(tail)
        return code, stdout, "\n".join(tail)


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def ssh_failure(stderr: str, client: SshClient) -> HybridctlError:
    """Turn ssh's exit 255 and its stderr into an error that says what happened and what to do."""
    target, known_hosts = client.target, client.settings.known_hosts
    text = stderr.strip()
    lower = text.lower()
    detail = _tail(text)
    if "remote host identification has changed" in lower or (
        "host key for" in lower and "has changed" in lower
    ):
        presented = re.search(r"SHA256:[A-Za-z0-9+/=]+", text)
        seen = f" (it presented {presented.group(0)})" if presented else ""
        return OperationFailed(
            f"the host key of {target} does not match the one pinned in {known_hosts}{seen}: "
            "refusing to connect (this is what a man-in-the-middle looks like; it is also what "
            "a rebuilt server looks like)",
            hint="Compare the server's fingerprint (on its console: ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub) with the pinned one "
            f"(ssh-keygen -lf {known_hosts}); only if you know the server was rebuilt, remove "
            f"the old key with ssh-keygen -R '{_known_hosts_name(target)}' -f {known_hosts}.",
        )
    if (
        "host key verification failed" in lower
        or "no ed25519 host key is known" in lower
        or ("host key is known for" in lower)
    ):
        return InputError(
            f"the host key of {target} is not in {known_hosts}, so it cannot be verified: "
            "refusing to connect",
            hint="Use the deployment's known_hosts (--deployment NAME or --known-hosts FILE), or, "
            "if you have checked the server's fingerprint, pass --accept-new-host-key to pin the "
            "key it presents now.",
        )
    if "permission denied" in lower or "too many authentication failures" in lower:
        return OperationFailed(
            f"SSH login to {target} was refused: {detail}",
            hint="Check the user name and that your key is in the server's authorized_keys "
            "(hybridctl deploy installs the key you gave it; load it with ssh-add or pass "
            "--identity FILE).",
        )
    if "could not resolve hostname" in lower or "name or service not known" in lower:
        return InputError(
            f"cannot resolve host {target.host}: {detail}",
            hint="Check the host name or IP address in --host.",
        )
    if "connection refused" in lower:
        return OperationFailed(
            f"{target} refused the SSH connection (nothing listens on port {target.port or 22})",
            hint="Check the server is up, sshd is running and the port is right; a fresh server "
            "may still be booting.",
        )
    if "timed out" in lower or "not responding" in lower:
        return OperationFailed(
            f"SSH connection to {target} timed out: {detail}",
            hint="Check the address, that the firewall admits your IP (admin CIDR) on port "
            f"{target.port or 22}, and that the server is running.",
        )
    return OperationFailed(
        f"SSH connection to {target} failed: {detail}",
        hint="Run `ssh -v` against the same host to see the details.",
    )


def _known_hosts_name(target: SshTarget) -> str:
    if target.port in (None, 22):
        return target.host
    return f"[{target.host}]:{target.port}"


@dataclass
class RemoteBenchRun:
    """What came back from a bench run on a box."""

    target: str
    exit_code: int
    result: dict[str, Any] | None
    connection_lost: bool = False
    remote_dir: str | None = None
    stderr_tail: str = ""
    completed_models: list[str] = field(default_factory=list)
    missing_models: list[str] = field(default_factory=list)


def find_remote_python(
    client: SshClient, python: str, install_deps: bool, progress: Progress
) -> str:
    """A python on the box that imports llama_cpp and psutil; install them when asked to."""
    candidates = [python]
    if python == DEFAULT_REMOTE_PYTHON:
        candidates.append(f"$HOME/{REMOTE_VENV}/bin/python")
    for candidate in candidates:
        quoted = _quote_keeping_home(candidate)
        completed = client.run(f"{quoted} -c {shlex.quote(DEPS_CHECK)}", timeout_s=120)
        if completed.returncode == 0:
            return candidate
    if not install_deps:
        raise OperationFailed(
            f"llama-cpp-python or psutil is not installed for {python} on {client.target}",
            hint=f"Install them on the box ({DEPS_INSTALL_HINT}, or inside a venv; then pass "
            "--remote-python /path/to/venv/bin/python), or pass --install-deps to let hybridctl "
            f"create ~/{REMOTE_VENV} there and install them (compiling llama.cpp takes minutes).",
        )
    venv_python = f"$HOME/{REMOTE_VENV}/bin/python"
    progress(f"installing llama-cpp-python and psutil into ~/{REMOTE_VENV} on {client.target}")
    install = (
        f'{shlex.quote(python)} -m venv "$HOME/{REMOTE_VENV}" && '
        f'"$HOME/{REMOTE_VENV}/bin/python" -m pip install --progress-bar off '
        "llama-cpp-python psutil"
    )
    code, _out, tail = client.stream(install, progress, timeout_s=3600)
    if code == SSH_EXIT_ERROR:
        raise ssh_failure(tail, client)
    if code != 0:
        raise OperationFailed(
            f"installing llama-cpp-python and psutil on {client.target} failed (exit {code}): "
            f"{_tail(tail)}",
            hint="Debian/Ubuntu boxes need python3-venv and a compiler: "
            "apt-get install python3-venv build-essential cmake",
        )
    return venv_python


def _quote_keeping_home(path: str) -> str:
    """Quote a remote path, but let a leading $HOME expand on the box."""
    if path.startswith("$HOME/"):
        return '"$HOME"/' + shlex.quote(path[len("$HOME/") :])
    return shlex.quote(path)


def _upload_zipapp(client: SshClient, workdir: str, local_dir: Path, progress: Progress) -> None:
    from hybridctl.bench.zipapp import build as build_zipapp

    zipapp = build_zipapp(local_dir / "bench.pyz")
    progress(f"copying the bench ({zipapp.stat().st_size // 1024} KiB) to {client.target}")
    client.upload(zipapp, f"{workdir}/bench.pyz")


def make_workdir(client: SshClient) -> str:
    """A fresh private directory on the box (mktemp -d: mode 0700)."""
    workdir = client.check(
        'mktemp -d "${TMPDIR:-/tmp}/hybridctl-bench.XXXXXX"', what="creating a work directory"
    ).strip()
    if not workdir.startswith("/") or "\n" in workdir:
        raise OperationFailed(
            f"unexpected work directory from mktemp on {client.target}: {workdir!r}"
        )
    return workdir


def run_remote_bench(
    client: SshClient,
    plan: dict[str, Any],
    *,
    remote_python: str = DEFAULT_REMOTE_PYTHON,
    install_deps: bool = False,
    progress: Progress = _ignore,
    timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
) -> RemoteBenchRun:
    """Copy the bench zipapp and the plan to the box, run it there and read its result back.

    Each model runs as its own bench invocation with its own result file, and each result is
    fetched as soon as that model is done, so a dropped connection loses at most the model
    that was running. A local model file named in the plan (`path` that exists here) is
    uploaded too.
    """
    deadline = time.monotonic() + timeout_s
    python = find_remote_python(client, remote_python, install_deps, progress)
    workdir = make_workdir(client)
    q_dir = shlex.quote(workdir)
    plan = json.loads(json.dumps(plan))  # a copy we may rewrite
    models = plan.get("models", [])
    with tempfile.TemporaryDirectory(prefix="hybridctl-remote-") as tmp:
        local_dir = Path(tmp)
        _upload_zipapp(client, workdir, local_dir, progress)
        uploaded: dict[Path, str] = {}
        for index, model in enumerate(models):
            local = Path(model["path"]).resolve() if model.get("path") else None
            if local is not None and local.is_file():
                if local not in uploaded:
                    uploaded[local] = f"{workdir}/model-{index}.gguf"
                    size_mib = local.stat().st_size / 2**20
                    progress(f"copying {local.name} ({size_mib:.1f} MiB) to {client.target}")
                    client.upload(local, uploaded[local])
                model["path"] = uploaded[local]
            one = local_dir / f"plan-{index}.json"
            one.write_text(json.dumps({**plan, "models": [model]}, indent=2))
            client.upload(one, f"{workdir}/plan-{index}.json")

    run = RemoteBenchRun(target=str(client.target), exit_code=0, result=None, remote_dir=workdir)
    results: list[dict[str, Any]] = []
    for index, model in enumerate(models):
        name = str(model.get("name"))
        progress(f"[{index + 1}/{len(models)}] {name} on {client.target}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            run.connection_lost = True
            run.stderr_tail = f"stopped: the run's time limit of {timeout_s:g} s was reached"
            break
        code, _stdout, tail = client.stream(
            f"cd {q_dir} && exec {_quote_keeping_home(python)} bench.pyz run "
            f"--plan plan-{index}.json --out result-{index}.json",
            progress,
            remaining,
        )
        run.stderr_tail = tail
        if code == SSH_EXIT_ERROR:
            run.connection_lost = True
            progress(f"connection to {client.target} lost while benching {name}")
            late = _fetch_json(client, f"{workdir}/result-{index}.json")  # it may have finished
            if late is not None:
                results.append(late)
            break
        if code == 2:
            raise InputError(
                f"the bench on {client.target} refused the plan for {name}: {_tail(tail)}",
                hint="This is a hybridctl bug if the plan came from the catalog; please report it.",
            )
        result = _fetch_json(client, f"{workdir}/result-{index}.json")
        if result is None:
            run.exit_code = max(run.exit_code, 1)
            progress(f"the bench for {name} exited {code} without a result")
            continue
        results.append(result)
        run.exit_code = max(run.exit_code, code if code in (0, 1) else 1)
    run.result = merge_results(results) if results else None
    run.completed_models = [str(row.get("name")) for r in results for row in r.get("rows", [])]
    run.missing_models = [
        str(m.get("name")) for m in models if str(m.get("name")) not in run.completed_models
    ]
    if run.connection_lost:
        run.exit_code = SSH_EXIT_ERROR
    else:
        try:
            client.run(f"rm -rf {q_dir}", timeout_s=60)
            run.remote_dir = None
        except HybridctlError:
            pass
    return run


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One RESULT from per-model RESULTs of the same machine: rows joined, verdicts combined."""
    merged = dict(results[0])
    merged["rows"] = [row for result in results for row in result.get("rows", [])]
    shortfalls = [s for result in results for s in result.get("verdict", {}).get("shortfalls", [])]
    merged["verdict"] = {"ok": not shortfalls, "shortfalls": shortfalls}
    merged["finished_at"] = results[-1].get("finished_at")
    return merged


def _fetch_json(client: SshClient, remote_path: str) -> dict[str, Any] | None:
    """A JSON object from a file on the box, or None when it is missing or unreadable."""
    try:
        completed = client.run(f"cat {shlex.quote(remote_path)}", timeout_s=120)
    except HybridctlError:
        return None
    if completed.returncode != 0:
        return None
    try:
        data = json.loads(completed.stdout.decode("utf-8", "replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


API_KEY_VARIABLE = "HYBRIDCTL_BENCH_API_KEY"


def run_remote_serve(
    client: SshClient,
    serve_args: list[str],
    *,
    api_key: str | None = None,
    remote_python: str = DEFAULT_REMOTE_PYTHON,
    progress: Progress = _ignore,
    timeout_s: float = 3600,
) -> tuple[int, dict[str, Any]]:
    """Run `bench.pyz serve` on the box (model servers listen only there) and read its JSON.

    An API key travels on ssh's stdin into an environment variable of the remote process,
    never on a command line.
    """
    workdir = make_workdir(client)
    q_dir = shlex.quote(workdir)
    with tempfile.TemporaryDirectory(prefix="hybridctl-remote-") as tmp:
        _upload_zipapp(client, workdir, Path(tmp), progress)
    args = " ".join(shlex.quote(a) for a in serve_args)
    command = f"cd {q_dir} && "
    if api_key:
        command += f"IFS= read -r {API_KEY_VARIABLE} && export {API_KEY_VARIABLE} && "
        args += f" --api-key-env {API_KEY_VARIABLE}"
    command += f"exec {_quote_keeping_home(remote_python)} bench.pyz serve {args} --out serve.json"
    stdin = (api_key + "\n").encode() if api_key else None
    code, _stdout, tail = client.stream(command, progress, timeout_s, stdin_data=stdin)
    if code == SSH_EXIT_ERROR:
        raise ssh_failure(tail, client)
    if code == 2:
        raise InputError(f"the load test on {client.target} refused its options: {_tail(tail)}")
    result = _fetch_json(client, f"{workdir}/serve.json")
    with contextlib.suppress(HybridctlError):
        client.run(f"rm -rf {q_dir}", timeout_s=60)
    if result is None:
        raise OperationFailed(
            f"the load test on {client.target} exited {code} without a result: {_tail(tail)}"
        )
    return code, result
