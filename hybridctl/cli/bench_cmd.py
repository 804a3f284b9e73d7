"""`hybridctl bench`: measure a tier's models, here or on a box over SSH, against their promises."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.bench import defaults
from hybridctl.bench_host.load import LoadOptions, serve_ca
from hybridctl.bench_host.plan_builder import bench_plan
from hybridctl.bench_host.target import (
    check_where,
    check_writable,
    needs_deployment_tier,
    require_extra_here,
    ssh_client,
)
from hybridctl.cli import bench_steps
from hybridctl.cli.options import CatalogOption, JsonOption, bounded, http_url

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
    repetitions: Annotated[
        int,
        bounded(
            "--repetitions", low=1, high=100, metavar="N", help="Timed repetitions per figure."
        ),
    ] = defaults.REPETITIONS,
    prompt_tokens: Annotated[
        int,
        bounded(
            "--prompt-tokens", low=1, high=131072, metavar="TOKENS", help="Prompt length, tokens."
        ),
    ] = defaults.PROMPT_TOKENS,
    gen_tokens: Annotated[
        int,
        bounded(
            "--gen-tokens",
            low=1,
            high=32768,
            metavar="TOKENS",
            help="Generated tokens per repetition.",
        ),
    ] = defaults.GEN_TOKENS,
    threads: Annotated[
        int | None,
        bounded(
            "--threads",
            low=1,
            high=1024,
            metavar="N",
            help="CPU threads (default: the bench's choice).",
        ),
    ] = defaults.THREADS,
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
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="Sweep the server settings on --model ID=PATH within the tier's memory, pick "
            "the best (with --update-catalog: record it for the rendered server).",
        ),
    ] = False,
    tune_budget_s: Annotated[
        int,
        bounded(
            "--tune-budget-s",
            low=1,
            high=86400,
            metavar="SECONDS",
            help="With --tune: start no new setting after this long (the default always runs).",
        ),
    ] = defaults.TUNE_BUDGET_S,
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="URL",
            callback=http_url,
            help="Load-test this OpenAI-compatible URL instead (e.g. http://127.0.0.1:8080).",
            rich_help_panel=_SERVE,
        ),
    ] = None,
    cacert: Annotated[
        Path | None,
        typer.Option(
            "--cacert",
            metavar="FILE",
            help="Verify the https --serve URL with this CA certificate (PEM) only, e.g. a box's "
            "from `hybridctl outputs NAME --ca` (with --deployment: that deployment's CA).",
            rich_help_panel=_SERVE,
            show_default=False,
        ),
    ] = None,
    clients: Annotated[
        int | None,
        bounded(
            "--clients",
            low=1,
            high=defaults.LOAD_MAX_CLIENTS,
            metavar="N",
            help="Concurrent clients (default: the tier's promised concurrency, else "
            f"{defaults.LOAD_CLIENTS}).",
            panel=_SERVE,
        ),
    ] = None,
    requests: Annotated[
        int,
        bounded(
            "--requests",
            low=1,
            high=defaults.LOAD_MAX_REQUESTS,
            metavar="N",
            help="Total requests.",
            panel=_SERVE,
        ),
    ] = defaults.LOAD_REQUESTS,
    max_tokens: Annotated[
        int,
        bounded(
            "--max-tokens",
            low=1,
            high=32768,
            metavar="TOKENS",
            help="max_tokens per request.",
            panel=_SERVE,
        ),
    ] = defaults.LOAD_MAX_TOKENS,
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
        bounded(
            "--target-rpm",
            low=0,
            above=True,
            high=1e9,
            metavar="RPM",
            help="Requests-per-minute target to check.",
            panel=_SERVE,
        ),
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
    skip_serving: Annotated[
        bool,
        typer.Option(
            "--skip-serving",
            help="With --deployment: measure the model server only, no load test through the "
            "proxy and gateway.",
        ),
    ] = False,
    install_deps: Annotated[
        bool,
        typer.Option(
            "--install-deps",
            help="Install llama-cpp-python and psutil on the box (in a venv) when missing.",
            rich_help_panel=_SSH,
        ),
    ] = False,
    connect_timeout: Annotated[
        int,
        bounded(
            "--connect-timeout",
            low=1,
            high=600,
            metavar="SECONDS",
            help="SSH connect timeout, seconds.",
            panel=_SSH,
        ),
    ] = 15,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure load time, peak memory and tokens/s of a tier's models and judge its promises.

    Runs here (--local, the default) or on a box over SSH (--host, --deployment), host key
    verified. A local --deployment is timed by its own model server, under its own CPU and
    memory limits, beside the plan's prediction for this machine (no download).
    Exit 0 when every promise holds, 1 when one falls short, 2 on bad input.
    With --serve URL it load-tests a running OpenAI-compatible server instead.

    Example: hybridctl bench --tier 1 --local --repetitions 3
    """
    check_where(local, host, deployment)
    if update_catalog and not serve:
        check_writable(catalog)  # before the bench, not after
    target = (host, deployment, known_hosts, accept_new_host_key, identity, ssh_config)
    ssh = ssh_client(*target, connect_timeout, bench_steps.progress)
    ca_file = serve_ca(serve, cacert, deployment)  # --cacert checked, or the deployment's
    require_extra_here(ssh, serve)  # before any work: a bench here loads llama-cpp-python
    if deployment and needs_deployment_tier(tier, serve, model):
        tier = bench_steps.deployment_tier(deployment)
    if serve:
        load_args = (clients, requests, max_tokens, served_model, api_key_env, target_rpm)
        load = LoadOptions(*load_args, ca_file)
        code = bench_steps.serve(serve, tier, catalog, ssh, load, remote_python, out, as_json)
        raise typer.Exit(code)
    picked = bench_steps.models(model, catalog, tier)  # catalog, tier, model files
    if tune:
        tuned = bench_steps.tune(*picked, tune_budget_s, update_catalog, catalog, ssh, as_json)
        raise typer.Exit(0 if tuned else 1)  # 1: no setting ran (each one's error is shown)
    plan = bench_plan(*picked, repetitions, prompt_tokens, gen_tokens, threads, skip_bandwidth)
    if deployment and ssh is None and not model:  # a box on this machine: time its own server
        result = bench_steps.box(deployment, *picked[:2], plan, update_catalog)
    else:
        result = bench_steps.run_bench(plan, ssh, remote_python, install_deps, out, as_json)
    if deployment and not skip_serving:  # and the serving stack, through proxy and gateway
        result = bench_steps.serving(result, deployment, catalog, clients, max_tokens)
    bench_steps.finish(result, out, as_json)
    if update_catalog:
        bench_steps.update_catalog(result, plan, catalog)
    raise typer.Exit(0 if result.get("verdict", {}).get("ok") else 1)
