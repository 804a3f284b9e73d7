"""`hybridctl bench`: measure a tier's models, here or on a box over SSH, against their promises."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.cli.options import CatalogOption, JsonOption
from hybridctl.errors import InputError, OperationFailed, UsageError

_SSH = "SSH (with --host or --deployment)"
_SERVE = "Load test (--serve)"


def bench(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            "-t",
            help="Bench every model of this tier (with --deployment: its tier, by default).",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A GGUF file to bench (repeatable); CATALOG_ID=PATH uses a local copy of a "
            "tier's model instead of downloading it.",
            show_default=False,
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Run here (the default).")] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Run on this box: user@host[:port].")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Run on this deployment's server.")
    ] = None,
    repetitions: Annotated[int, typer.Option(help="Timed repetitions per figure.")] = 5,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt length, tokens.")] = 512,
    gen_tokens: Annotated[int, typer.Option(help="Generated tokens per repetition.")] = 128,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (default: the bench's choice).")
    ] = None,
    skip_bandwidth: Annotated[
        bool,
        typer.Option(
            "--skip-bandwidth", help="Skip the memory-bandwidth probe (no roofline fraction)."
        ),
    ] = False,
    update_catalog: Annotated[
        bool,
        typer.Option(
            "--update-catalog", help="Record the measured figures in the catalog's models."
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the result JSON to this file.")
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            help="Load-test this OpenAI-compatible URL instead (e.g. http://127.0.0.1:8080).",
            rich_help_panel=_SERVE,
        ),
    ] = None,
    clients: Annotated[
        int | None,
        typer.Option(
            help="Concurrent clients (default: the tier's promised concurrency, else 4).",
            rich_help_panel=_SERVE,
        ),
    ] = None,
    requests: Annotated[int, typer.Option(help="Total requests.", rich_help_panel=_SERVE)] = 20,
    max_tokens: Annotated[
        int, typer.Option(help="max_tokens per request.", rich_help_panel=_SERVE)
    ] = 64,
    served_model: Annotated[
        str | None,
        typer.Option(
            help="Model name to request (default: the server's first).", rich_help_panel=_SERVE
        ),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="Name of the environment variable holding the endpoint's API key.",
            rich_help_panel=_SERVE,
        ),
    ] = None,
    target_rpm: Annotated[
        float | None,
        typer.Option(help="Requests-per-minute target to check.", rich_help_panel=_SERVE),
    ] = None,
    known_hosts: Annotated[
        Path | None,
        typer.Option(
            help="known_hosts file to verify the host key against (default: the deployment's, "
            "or hybridctl's own for --host).",
            rich_help_panel=_SSH,
        ),
    ] = None,
    accept_new_host_key: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-key",
            help="Trust and pin a host key seen for the first time (StrictHostKeyChecking="
            "accept-new). A changed key is still refused.",
            rich_help_panel=_SSH,
        ),
    ] = False,
    identity: Annotated[
        Path | None, typer.Option(help="SSH private key to log in with.", rich_help_panel=_SSH)
    ] = None,
    ssh_config: Annotated[
        str | None,
        typer.Option(help="ssh config file (ssh -F; 'none' for none).", rich_help_panel=_SSH),
    ] = None,
    remote_python: Annotated[
        str, typer.Option(help="Python on the box.", rich_help_panel=_SSH)
    ] = "python3",
    install_deps: Annotated[
        bool,
        typer.Option(
            "--install-deps",
            help="Install llama-cpp-python and psutil on the box (in a venv) when missing.",
            rich_help_panel=_SSH,
        ),
    ] = False,
    connect_timeout: Annotated[
        int, typer.Option(help="SSH connect timeout, seconds.", rich_help_panel=_SSH)
    ] = 15,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Measure load time, peak memory and tokens/s of a tier's models and judge its promises.

    Runs here (--local, the default) or on a box over SSH (--host, --deployment), host key
    verified. Exit 0 when every promise holds, 1 when one falls short, 2 on bad input.
    With --serve URL it load-tests a running OpenAI-compatible server instead.

    Example: hybridctl bench --tier 1 --local --repetitions 3
    """
    where = [
        flag
        for flag, given in (("--local", local), ("--host", host), ("--deployment", deployment))
        if given
    ]
    if len(where) > 1:
        raise UsageError(f"choose one of --local, --host, --deployment (got {' and '.join(where)})")
    if update_catalog and not serve:
        from hybridctl.catalog.measurements import check_catalog_writable
        from hybridctl.paths import default_catalog_path

        check_catalog_writable(catalog or default_catalog_path())  # before the bench, not after
    ssh = _ssh_client(
        host, deployment, known_hosts, accept_new_host_key, identity, ssh_config, connect_timeout
    )
    if deployment and not tier and (serve or not model or any("=" in m for m in model)):
        tier = _deployment_tier(deployment)
    if serve:
        code = _serve(
            serve,
            tier,
            catalog,
            ssh,
            clients,
            requests,
            max_tokens,
            served_model,
            api_key_env,
            target_rpm,
            remote_python,
            out,
            json_output,
        )
        raise typer.Exit(code)
    from hybridctl.benchplan import ModelFile, build_plan

    files = [ModelFile.parse(spec) for spec in model or []]
    cat, tier_obj = _tier(catalog, tier) if tier else (None, None)
    plan = build_plan(
        cat,
        tier_obj,
        files,
        repetitions=repetitions,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        threads=threads,
    )
    if skip_bandwidth:
        plan["measure_bandwidth"] = False
    result = _run_bench(plan, ssh, remote_python, install_deps, out, json_output)
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")
    _show(result, json_output)
    if update_catalog:
        _update_catalog(result, plan, catalog)
    raise typer.Exit(0 if result.get("verdict", {}).get("ok") else 1)


def _progress(line: str) -> None:
    from hybridctl.cli.output import err_console

    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def _tier(catalog_path: Path | None, tier_id: str) -> tuple[Any, Any]:
    from hybridctl.catalog import find_tier, load_catalog

    cat = load_catalog(catalog_path)
    return cat, find_tier(cat, tier_id)


def _deployment_tier(deployment: str) -> str:
    """The tier a deployment was made with (its record's), for a bench with no --tier."""
    from hybridctl.deploy.records import load_record

    tier = load_record(deployment).tier
    _progress(f"tier {tier} (deployment {deployment}'s; --tier overrides it)")
    return tier


def _ssh_client(
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
    if identity is not None and not identity.is_file():
        raise InputError(f"identity file {identity} does not exist")
    if connect_timeout < 1:
        raise UsageError("--connect-timeout must be at least 1 second")
    path = resolve_known_hosts(known_hosts, deployment_file, accept_new)
    if accept_new:
        _progress(
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


def _run_bench(
    plan: dict[str, Any],
    ssh: Any,
    remote_python: str,
    install_deps: bool,
    out: Path | None,
    json_output: bool,
) -> dict[str, Any]:
    if ssh is None:
        from hybridctl.benchplan import run_local_bench

        return run_local_bench(plan, _progress)
    from hybridctl.remote import run_remote_bench

    run = run_remote_bench(
        ssh, plan, remote_python=remote_python, install_deps=install_deps, progress=_progress
    )
    if not run.connection_lost:
        if run.result is None:
            raise OperationFailed(
                f"the bench on {run.target} produced no result: {run.stderr_tail[-500:]}",
                hint="Run it by hand on the box: python3 bench.pyz run --plan plan.json",
            )
        return run.result
    saved = out or _partial_path()
    saved.parent.mkdir(parents=True, exist_ok=True)
    if run.result is not None:
        saved.write_text(json.dumps(run.result, indent=2) + "\n")
        _show(run.result, json_output, partial=True)
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


def _partial_path() -> Path:
    from hybridctl.paths import state_dir

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir() / "bench" / f"partial-{stamp}.json"


def _show(result: dict[str, Any], json_output: bool, *, partial: bool = False) -> None:
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


def _update_catalog(
    result: dict[str, Any], plan: dict[str, Any], catalog_path: Path | None
) -> None:
    from hybridctl.benchplan import catalog_files
    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.measurements import record_measurements, updates_from_result
    from hybridctl.paths import default_catalog_path

    path = catalog_path or default_catalog_path()
    cat = load_catalog(path)
    updates, skipped = updates_from_result(
        result, set(cat.models), catalog_files=catalog_files(plan, cat)
    )
    for reason in skipped:
        _progress(f"not recorded: {reason}")
    if not updates:
        _progress(f"no measurement to record in {path}")
        return
    record_measurements(path, updates)
    names = ", ".join(update.model_id for update in updates)
    _progress(f"recorded measurements for {names} in {path}")


def _serve(
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
        _cat, tier_obj = _tier(catalog_path, tier_id)
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
        _progress(f"load test: {clients} clients, {requests} requests against {url}")
        result = loadtest.run_load(settings, _progress)
        result["verdict"] = loadreport.verdict(
            result, promised_concurrency=promised, target_rpm=target_rpm, max_p95_latency_s=None
        )
    else:
        from hybridctl.remote import run_remote_serve

        _code, result = run_remote_serve(
            ssh, args, api_key=api_key, remote_python=remote_python, progress=_progress
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
