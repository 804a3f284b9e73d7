"""The steps `hybridctl bench` runs: SSH target, the run itself, tuning, load test, output."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError, OperationFailed, UsageError
from hybridctl.paths import not_a_file


def progress(line: str) -> None:
    from hybridctl.cli.output import err_console

    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def tier(catalog_path: Path | None, tier_id: str) -> tuple[Any, Any]:
    from hybridctl.catalog import find_tier, load_catalog

    cat = load_catalog(catalog_path)
    return cat, find_tier(cat, tier_id)


def deployment_tier(deployment: str) -> str:
    """The tier a deployment was made with (its record's), for a bench with no --tier."""
    from hybridctl.deploy.records import load_record

    tier = load_record(deployment).tier
    progress(f"tier {tier} (deployment {deployment}'s; --tier overrides it)")
    return tier


def ssh_client(
    host: str | None,
    deployment: str | None,
    known_hosts: Path | None,
    accept_new: bool,
    identity: Path | None,
    ssh_config: str | None,
    connect_timeout: int,
) -> Any:
    """The SSH client for --host / --deployment, or None to run here."""
    if not host and not deployment:
        if known_hosts or accept_new or identity:
            raise UsageError(
                "--known-hosts, --accept-new-host-key and --identity need --host or --deployment"
            )
        return None
    from hybridctl.remote import SshClient, SshSettings, SshTarget, resolve_known_hosts

    alias = None
    deployment_file = None
    if deployment:
        from hybridctl.deploy.hostkeys import host_alias
        from hybridctl.deploy.records import known_hosts_path, load_record

        record = load_record(deployment)
        if record.provider == "local":
            return None  # the box runs on this machine: bench its models here
        ip = record.outputs.get("ip")
        if not ip:
            raise InputError(
                f"deployment {deployment!r} has no IP address yet (status: {record.status})",
                hint=f"Check it with `hybridctl status {deployment}`.",
            )
        target = SshTarget(host=str(ip), user=str(record.outputs.get("ssh_user") or "root"))
        deployment_file = known_hosts_path(deployment)
        alias = host_alias(deployment)
    else:
        assert host is not None
        target = SshTarget.parse(host)
    problem = not_a_file(identity) if identity is not None else None
    if problem:
        raise InputError(f"--identity {identity} {problem}")
    if connect_timeout < 1:
        raise UsageError("--connect-timeout must be at least 1 second")
    path = resolve_known_hosts(known_hosts, deployment_file, accept_new)
    if accept_new:
        progress(
            f"note: --accept-new-host-key: a host key not yet in {path} will be trusted on first "
            "contact and pinned there (StrictHostKeyChecking=accept-new); a changed key is still "
            "refused"
        )
    settings = SshSettings(
        known_hosts=path,
        accept_new_host_key=accept_new,
        identity_file=identity,
        host_key_alias=alias if known_hosts is None else None,
        config_file=ssh_config,
        connect_timeout_s=connect_timeout,
    )
    return SshClient(target, settings)


def run_bench(
    plan: dict[str, Any],
    ssh: Any,
    remote_python: str,
    install_deps: bool,
    out: Path | None,
    json_output: bool,
) -> dict[str, Any]:
    if ssh is None:
        from hybridctl.benchplan import run_local_bench

        return run_local_bench(plan, progress)
    from hybridctl.remote import run_remote_bench

    run = run_remote_bench(
        ssh, plan, remote_python=remote_python, install_deps=install_deps, progress=progress
    )
    if not run.connection_lost:
        if run.result is None:
            raise OperationFailed(
                f"the bench on {run.target} produced no result: {run.stderr_tail[-500:]}",
                hint="Run it by hand on the box: python3 bench.pyz run --plan plan.json",
            )
        return run.result
    saved = out or partial_path()
    saved.parent.mkdir(parents=True, exist_ok=True)
    if run.result is not None:
        saved.write_text(json.dumps(run.result, indent=2) + "\n")
        show(run.result, json_output, partial=True)
    done = ", ".join(run.completed_models) or "none"
    missing = ", ".join(run.missing_models) or "none"
    kept = f"; the finished models' results are saved in {saved}" if run.result else ""
    raise OperationFailed(
        f"the connection to {run.target} was lost during the bench (completed: {done}; "
        f"not completed: {missing}){kept}",
        hint=f"Check the box is reachable and run again. Its work directory {run.remote_dir} "
        "holds whatever the bench wrote there."
        + (f" Last output: {run.stderr_tail.splitlines()[-1]}" if run.stderr_tail else ""),
    )


def partial_path() -> Path:
    from hybridctl.paths import state_dir

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir() / "bench" / f"partial-{stamp}.json"


def show(result: dict[str, Any], json_output: bool, *, partial: bool = False) -> None:
    from hybridctl.cli.output import console, print_json

    if json_output:
        print_json(result)
        return
    from hybridctl.benchplan import result_table, verdict_lines

    console.print(result_table(result))
    if partial:
        console.print("[yellow]partial result: no verdict on the tier (see the error below)[/]")
        return
    for line in verdict_lines(result):
        console.print(line)


def tune(
    cat: Any,
    tier: Any,
    files: list[Any],
    budget_s: int,
    record: bool,
    path: Any,
    ssh: Any,
    js: bool,
) -> None:
    from hybridctl.cli.output import console, print_json
    from hybridctl.paths import default_catalog_path
    from hybridctl.tuner import tune_summary, tune_table, tune_tier

    if tier is None or ssh is not None:
        raise UsageError("--tune runs here, on a tier's model: pass --tier T --model ID=PATH")
    where = (path or default_catalog_path()) if record else None
    report = tune_tier(cat, tier, files, budget_s=budget_s, catalog_path=where, progress=progress)
    if js:
        return print_json(report)
    console.print(tune_table(report))
    for line in tune_summary(report):
        console.print(line)


def update_catalog(result: dict[str, Any], plan: dict[str, Any], catalog_path: Path | None) -> None:
    from hybridctl.benchplan import catalog_files
    from hybridctl.calibrate import record_bench_result
    from hybridctl.catalog import load_catalog
    from hybridctl.paths import default_catalog_path

    path = catalog_path or default_catalog_path()
    cat = load_catalog(path)
    for note in record_bench_result(result, path, catalog_files(plan, cat), set(cat.models)):
        progress(note)


def serve(
    url: str,
    tier_id: str | None,
    catalog_path: Path | None,
    ssh: Any,
    clients: int | None,
    requests: int,
    max_tokens: int,
    served_model: str | None,
    api_key_env: str | None,
    target_rpm: float | None,
    remote_python: str,
    out: Path | None,
    json_output: bool,
) -> int:
    from hybridctl.bench import loadreport, loadtest

    promised = None
    typical: tuple[float, float] | None = None
    if tier_id:
        _cat, tier_obj = tier(catalog_path, tier_id)
        promised = tier_obj.promises.max_concurrent
        typical = tier_obj.promises.typical_latency_s
    clients = clients or promised or 4
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise InputError(f"environment variable {api_key_env} (--api-key-env) is not set")
    args = ["--url", url, "--clients", str(clients), "--requests", str(requests)]
    args += ["--max-tokens", str(max_tokens)]
    if served_model:
        args += ["--model", served_model]
    if promised is not None:
        args += ["--promised-concurrency", str(promised)]
    if target_rpm is not None:
        args += ["--target-rpm", str(target_rpm)]
    if ssh is None:
        try:
            settings = loadtest.settings_from_args(loadtest.build_parser().parse_args(args))
        except loadtest.BadInput as exc:
            raise InputError(str(exc)) from None
        settings.api_key = api_key
        progress(f"load test: {clients} clients, {requests} requests against {url}")
        result = loadtest.run_load(settings, progress)
        result["verdict"] = loadreport.verdict(
            result, promised_concurrency=promised, target_rpm=target_rpm, max_p95_latency_s=None
        )
    else:
        from hybridctl.remote import run_remote_serve

        _code, result = run_remote_serve(
            ssh, args, api_key=api_key, remote_python=remote_python, progress=progress
        )
    p50 = result["latency_s"]["p50"]
    if typical is not None and p50 is not None:
        # Reported, not judged: the guide's figure is for its answers, not for max_tokens here.
        result["verdict"]["notes"].append(
            f"tier {tier_id} quotes a typical latency of {typical[0]:g}-{typical[1]:g} s; "
            f"measured p50 {p50:.2f} s at max_tokens {max_tokens}"
        )
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")
    if json_output:
        from hybridctl.cli.output import print_json

        print_json(result)
    else:
        from hybridctl.cli.output import console

        console.print(loadreport.summary_text(result), markup=False, highlight=False)
    return 0 if result["verdict"]["ok"] else 1
