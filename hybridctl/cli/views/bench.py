"""Draws `hybridctl bench`'s tables: a bench result's figures and a tune's trials."""

from __future__ import annotations

from typing import Any

from hybridctl.bench.result import BenchResult


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def result_table(result: BenchResult) -> Any:
    """A rich Table of a bench RESULT: one row per model, every figure with its spread."""
    from rich.table import Table

    settings = result.get("settings", {})
    title = (
        f"bench: {settings.get('repetitions', '?')} reps, pp {settings.get('prompt_tokens', '?')}"
        f" / tg {settings.get('gen_tokens', '?')} tokens, {settings.get('threads', '?')} threads"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("model", overflow="fold")
    table.add_column("status")
    columns = ("load s", "tg tok/s", "promised", "pp tok/s", "model MiB", "est. MiB", "budget")
    for column in (*columns, "roofline"):
        table.add_column(column, justify="right")
    table.add_column("verdict", min_width=5)
    for row in result.get("rows", []):
        verdict = row.get("verdict", {})
        gen = (row.get("generation") or {}).get("tokens_per_s") or {}
        pp = (row.get("prompt") or {}).get("tokens_per_s") or {}
        memory = row.get("memory") or {}
        fraction = (row.get("roofline") or {}).get("fraction")
        status = row.get("status", "?")
        if status == "ok" and row.get("repack") is False:
            status = "ok (no repack)"
        table.add_row(
            str(row.get("name")),
            status,
            _fmt(row.get("load_s"), ".2f"),
            f"{gen['mean']:.2f} ± {gen['stddev']:.2f}" if gen.get("mean") is not None else "-",
            _fmt(verdict.get("promised_tokens_per_s"), "g"),
            f"{pp['mean']:.1f} ± {pp['stddev']:.1f}" if pp.get("mean") is not None else "-",
            _fmt(memory.get("model_rss_mib") or memory.get("peak_rss_mib"), ".0f"),
            _fmt(_model_estimate(memory), ".0f"),
            _fmt(memory.get("budget_mib"), ".0f"),
            "-" if fraction is None else f"{100 * fraction:.0f}%",
            "[green]holds[/]" if verdict.get("ok") else "[red]short[/]",
        )
    return table


def box_table(result: BenchResult) -> Any:
    """A rich Table of a local box's bench: per model the plan's prediction beside the
    measurement, then the serving part's p95 at the promised concurrency."""
    from rich.table import Table

    limits, machine, settings = result["limits"], result["machine"], result["settings"]
    title = (
        f"bench --deployment {result['deployment']} (tier {result['tier']}): its model server, "
        f"cpus {limits.get('cpus')}, memory {limits.get('memory')}, {limits.get('threads')} "
        f"threads; {machine['bandwidth_gbs']:g} GB/s measured here; "
        f"{settings['repetitions']} reps, pp {settings['prompt_tokens']} / tg "
        f"{settings['gen_tokens']} tokens"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("model", overflow="fold")
    for column in ("predicted tok/s", "measured tok/s", "x", "pp predicted", "pp measured"):
        table.add_column(column, justify="right")
    table.add_column("bound")
    table.add_column("verdict", min_width=5)
    for row in result["models"]:
        table.add_row(
            row["name"],
            f"{row['predicted_tokens_per_s']:.1f}",
            f"{row['measured_tokens_per_s']:.2f} ± {row['measured_stddev']:.2f}",
            f"{row['ratio']:.2f}",
            f"{row['predicted_prompt_tokens_per_s']:.0f}",
            f"{row['measured_prompt_tokens_per_s']:.0f}",
            row["bound"],
            "[green]holds[/]" if row["within_band"] else "[red]off[/]",
        )
    serving = result.get("serving")
    if serving and serving.get("predicted_p95_s") is not None:
        measured = serving.get("measured_p95_s")
        table.caption = (
            f"serving: {serving['clients']} clients (promised {serving['promised_concurrency']} "
            f"within {serving['latency_ceiling_s']:g} s): p95 predicted "
            f"{serving['predicted_p95_s']:.1f} s, measured "
            + ("-" if measured is None else f"{measured:.1f} s")
        )
    return table


def _model_estimate(memory: dict[str, Any]) -> float | None:
    """The estimate of the model's own memory (without the bench process), beside model MiB."""
    estimate = memory.get("estimate_mib") or {}
    if estimate.get("total_mib") is None:
        return None
    return float(estimate["total_mib"]) - float(estimate.get("overhead_mib") or 0)


def tune_table(report: dict[str, Any]) -> Any:
    """A rich Table of every trial: throughput mean +- stddev, per stream, spread, memory."""
    from rich.table import Table

    table = Table(
        title=f"bench --tune: tier {report['tier']}, {report['model']}", title_justify="left"
    )
    columns = ("setting", "status", "tg tok/s (all)", "pp tok/s", "score", "spread", "MiB est.")
    for column in (*columns, "note"):
        table.add_column(
            column, justify="left" if column in ("setting", "status", "note") else "right"
        )
    best = (report.get("best") or {}).get("setting")
    skipped: dict[str, int] = {}
    for index, trial in enumerate(report["trials"]):
        if index and trial["status"] in ("over budget", "not run (time budget)"):
            skipped[trial["status"]] = skipped.get(trial["status"], 0) + 1
            continue
        mark = " (default)" if index == 0 else ""
        mark += " [bold green]<- best[/]" if trial["setting"] == best else ""
        throughput = trial.get("throughput")
        table.add_row(
            trial["label"] + mark,
            trial["status"],
            f"{throughput:.2f} ± {trial['stddev']:.2f}" if throughput else "-",
            f"{trial['prompt']:.1f}" if trial.get("prompt") else "-",
            f"{trial['score']:.2f}" if trial.get("score") else "-",
            f"{trial['spread']:.0%}" if trial.get("spread") is not None else "-",
            f"{trial['estimate_mib']:g}" if trial.get("estimate_mib") is not None else "-",
            "; ".join(trial.get("flags") or []),
        )
    if skipped:
        table.caption = "not shown: " + ", ".join(f"{n} {why}" for why, n in skipped.items())
    return table
