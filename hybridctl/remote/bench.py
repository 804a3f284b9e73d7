"""Bench on a box over SSH: copy the bench, run it there, stream its progress, read its JSON."""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hybridctl.bench.result import BenchResult
from hybridctl.errors import HybridctlError, InputError, OperationFailed
from hybridctl.remote.ssh import (
    DEFAULT_REMOTE_PYTHON,
    DEFAULT_RUN_TIMEOUT_S,
    DEPS_CHECK,
    DEPS_INSTALL_HINT,
    REMOTE_VENV,
    SSH_EXIT_ERROR,
    Progress,
    SshClient,
    SshSettings,
    SshTarget,
    ignore_progress,
    resolve_known_hosts,
    ssh_failure,
    tail_lines,
)

__all__ = [
    "RemoteBenchRun",
    "SshClient",
    "SshSettings",
    "SshTarget",
    "find_remote_python",
    "merge_results",
    "resolve_known_hosts",
    "run_remote_bench",
    "run_remote_serve",
]


@dataclass
class RemoteBenchRun:
    """What came back from a bench run on a box."""

    target: str
    exit_code: int
    result: BenchResult | None
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
            f"{tail_lines(tail)}",
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
    progress: Progress = ignore_progress,
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
    run = RemoteBenchRun(target=str(client.target), exit_code=0, result=None, remote_dir=workdir)
    try:
        _bench_on_box(client, plan, python, workdir, run, progress, deadline, timeout_s)
    finally:
        # A dropped connection leaves the directory for the user (it holds what finished);
        # otherwise, and on any error (a refused plan, a failed upload), tidy up if possible.
        if not run.connection_lost and _remove_workdir(client, workdir):
            run.remote_dir = None
    if run.connection_lost:
        run.exit_code = SSH_EXIT_ERROR
    return run


def _remove_workdir(client: SshClient, workdir: str) -> bool:
    """Remove a work directory on the box, best effort; whether it was removed."""
    try:
        completed = client.run(f"rm -rf {shlex.quote(workdir)}", timeout_s=60)
    except HybridctlError:
        return False
    return completed.returncode == 0


def _bench_on_box(
    client: SshClient,
    plan: dict[str, Any],
    python: str,
    workdir: str,
    run: RemoteBenchRun,
    progress: Progress,
    deadline: float,
    timeout_s: float,
) -> None:
    """Upload the bench, the plans and local model files to workdir, run each model, fill run."""
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

    results: list[BenchResult] = []
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
            late = _fetch_result(client, f"{workdir}/result-{index}.json")  # it may have finished
            if late is not None:
                results.append(late)
            break
        if code == 2:
            raise InputError(
                f"the bench on {client.target} refused the plan for {name}: {tail_lines(tail)}",
                hint="This is a hybridctl bug if the plan came from the catalog; please report it.",
            )
        result = _fetch_result(client, f"{workdir}/result-{index}.json")
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


def merge_results(results: list[BenchResult]) -> BenchResult:
    """One RESULT from per-model RESULTs of the same machine: rows joined, verdicts combined."""
    merged = results[0].copy()
    merged["rows"] = [row for result in results for row in result.get("rows", [])]
    shortfalls = [s for result in results for s in result.get("verdict", {}).get("shortfalls", [])]
    merged["verdict"] = {"ok": not shortfalls, "shortfalls": shortfalls}
    merged["finished_at"] = results[-1].get("finished_at")
    return merged


def _fetch_result(client: SshClient, remote_path: str) -> BenchResult | None:
    """A bench result (RESULT.json) from a file on the box, or None when missing or unreadable."""
    return cast("BenchResult | None", _fetch_json(client, remote_path))


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
    ca_file: Path | None = None,
    remote_python: str = DEFAULT_REMOTE_PYTHON,
    progress: Progress = ignore_progress,
    timeout_s: float = 3600,
) -> tuple[int, dict[str, Any]]:
    """Run `bench.pyz serve` on the box (model servers listen only there) and read its JSON.

    An API key travels on ssh's stdin into an environment variable of the remote process,
    never on a command line; a CA file (--cacert) is copied beside the bench.
    """
    workdir = make_workdir(client)
    try:
        if ca_file is not None:
            client.upload(ca_file, f"{workdir}/ca.pem")
            serve_args = [*serve_args, "--cacert", "ca.pem"]  # the command runs in workdir
        code, tail, result = _serve_on_box(
            client, workdir, serve_args, api_key, remote_python, progress, timeout_s
        )
    finally:
        _remove_workdir(client, workdir)
    if result is None:
        raise OperationFailed(
            f"the load test on {client.target} exited {code} without a result: {tail_lines(tail)}"
        )
    return code, result


def _serve_on_box(
    client: SshClient,
    workdir: str,
    serve_args: list[str],
    api_key: str | None,
    remote_python: str,
    progress: Progress,
    timeout_s: float,
) -> tuple[int, str, dict[str, Any] | None]:
    """Upload the bench to workdir and run its load test there: exit code, stderr tail, result."""
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
        raise InputError(
            f"the load test on {client.target} refused its options: {tail_lines(tail)}"
        )
    return code, tail, _fetch_json(client, f"{workdir}/serve.json")
