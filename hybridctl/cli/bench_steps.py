"""The steps `hybridctl bench` runs: the run itself, tuning, load test, output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridctl.errors import UsageError

if TYPE_CHECKING:
    from hybridctl.bench.result import BenchResult
    from hybridctl.bench_host.load import LoadOptions


def progress(line: str) -> None:
    from hybridctl.cli.output import err_console

    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def tier(catalog_path: Path | None, tier_id: str) -> tuple[Any, Any]:
    from hybridctl.catalog import find_tier, load_catalog

    cat = load_catalog(catalog_path)
    return cat, find_tier(cat, tier_id)


def deployment_tier(deployment: str) -> str:
    """The tier a deployment was made with (its record's), for a bench with no --tier."""
    from hybridctl.catalog.deployments import load_record

    tier = load_record(deployment).tier
    progress(f"tier {tier} (deployment {deployment}'s; --tier overrides it)")
    return tier


def models(
    model: list[str] | None, catalog_path: Path | None, tier_id: str | None
) -> tuple[Any, Any, list[Any]]:
    """The catalog and tier when --tier is given, and the --model files."""
    from hybridctl.bench_host.model_files import ModelFile

    files = [ModelFile.parse(spec) for spec in model or []]
    cat, tier_obj = tier(catalog_path, tier_id) if tier_id else (None, None)
    return cat, tier_obj, files


def serving(
    result: BenchResult,
    deployment: str,
    catalog_path: Path | None,
    clients: int | None,
    max_tokens: int,
) -> BenchResult:
    """The model figures plus the load test through the deployment's proxy and gateway."""
    from hybridctl.ops.servebench import with_serving

    return with_serving(
        result, deployment, catalog_path, clients=clients, max_tokens=max_tokens, progress=progress
    )


def box(
    deployment: str, cat: Any, tier: Any, plan: dict[str, Any], update_catalog: bool
) -> BenchResult:
    """A local deployment's models, timed by its own model server, beside the plan's figures."""
    from hybridctl.catalog.deployments import load_record
    from hybridctl.ops.boxbench import bench_box

    if update_catalog:
        raise UsageError(
            "--update-catalog records a standalone bench's figures, not a deployed box's",
            hint="Bench the model files with --model ID=PATH --update-catalog instead.",
        )
    return bench_box(
        load_record(deployment), cat, tier, repetitions=plan["repetitions"],
        prompt_tokens=plan["prompt_tokens"], gen_tokens=plan["gen_tokens"], progress=progress,
    )  # fmt: skip


def finish(result: BenchResult, out: Path | None, as_json: bool) -> None:
    """Write the result to --out, when given, and show it."""
    from hybridctl.bench_host.load import write_out

    write_out(result, out)
    show(result, as_json)


def run_bench(
    plan: dict[str, Any],
    ssh: Any,
    remote_python: str,
    install_deps: bool,
    out: Path | None,
    as_json: bool,
) -> BenchResult:
    """The bench's result; an interrupted one shows the models that finished, then fails."""
    from hybridctl.bench_host.runs import BenchInterrupted, run_plan

    try:
        return run_plan(
            plan,
            ssh,
            remote_python=remote_python,
            install_deps=install_deps,
            out=out,
            progress=progress,
        )
    except BenchInterrupted as exc:
        if exc.partial is not None:
            show(exc.partial, as_json, partial=True)
        raise


def show(result: BenchResult, as_json: bool, *, partial: bool = False) -> None:
    from hybridctl.cli.output import console, print_json

    if as_json:
        print_json(result)
        return
    from hybridctl.bench_host.verdicts import verdict_lines
    from hybridctl.cli.views.bench import result_table

    if result.get("kind") == "box":
        from hybridctl.cli.views.bench import box_table

        console.print(box_table(result))
    else:
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
    as_json: bool,
) -> bool:
    """Sweep, show the report; whether any setting ran (else the exit code is 1)."""
    from hybridctl.bench_host.tune import tune_tier
    from hybridctl.bench_host.verdicts import tune_summary
    from hybridctl.cli.output import console, print_json
    from hybridctl.cli.views.bench import tune_table
    from hybridctl.paths import default_catalog_path

    if tier is None or ssh is not None:
        raise UsageError("--tune runs here, on a tier's model: pass --tier T --model ID=PATH")
    where = (path or default_catalog_path()) if record else None
    report = tune_tier(cat, tier, files, budget_s=budget_s, catalog_path=where, progress=progress)
    if as_json:
        print_json(report)
    else:
        console.print(tune_table(report))
        for line in tune_summary(report):
            console.print(line)
    return report["best"] is not None


def update_catalog(result: BenchResult, plan: dict[str, Any], catalog_path: Path | None) -> None:
    from hybridctl.bench_host.calibrate import update_catalog as record

    record(result, plan, catalog_path, progress)


def serve(
    url: str,
    tier_id: str | None,
    catalog_path: Path | None,
    ssh: Any,
    opts: LoadOptions,
    remote_python: str,
    out: Path | None,
    as_json: bool,
) -> int:
    """`bench --serve`: load-test the URL, from here or from the box; the exit code."""
    from hybridctl.bench_host.load import serve_load

    tier_obj = tier(catalog_path, tier_id)[1] if tier_id else None
    result = serve_load(
        url, tier_obj, ssh, opts, remote_python=remote_python, out=out, progress=progress
    )
    show_load(result, as_json)
    return 0 if result["verdict"]["ok"] else 1


def show_load(result: dict[str, Any], as_json: bool) -> None:
    """Print a load test's result: JSON, or its summary."""
    if as_json:
        from hybridctl.cli.output import print_json

        print_json(result)
    else:
        from hybridctl.bench.loadreport import summary_text
        from hybridctl.cli.output import console

        console.print(summary_text(result), markup=False, highlight=False)
