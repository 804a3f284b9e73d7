"""A bench's and a tune's outcome in words: what holds, what falls short, what tuning gained."""

from __future__ import annotations

from typing import Any

from hybridctl.bench.result import BenchResult
from hybridctl.bench_host.tune_settings import Setting


def verdict_lines(result: BenchResult) -> list[str]:
    """Plain verdict lines: what holds, what falls short and by how much (rich markup)."""
    lines = []
    for row in result.get("rows", []):
        verdict = row.get("verdict", {})
        if not verdict.get("ok"):
            continue
        measured = verdict.get("measured_tokens_per_s")
        promised = verdict.get("promised_tokens_per_s")
        what = f"{measured:.2f} tokens/s" if measured is not None else "ran"
        if promised is not None:
            what += f" ≥ promised {promised:g}"
        headroom = verdict.get("memory_headroom_mib")
        if headroom is not None:
            what += f", {headroom:.0f} MiB under its memory budget"
        lines.append(f"[green]holds[/] {row.get('name')}: {what}")
    if result.get("kind") == "box":  # a local box: the plan against its own server
        lines += [f"[green]holds[/] {note}" for note in result["verdict"].get("notes", [])]
        lines += [f"[yellow]disturbed[/] {line}" for line in result.get("disturbed", [])]
    lines += [f"[red]SHORT[/] {gap}" for gap in result.get("verdict", {}).get("shortfalls", [])]
    for row in result.get("rows", []):
        if row.get("interference"):
            lines.append(
                f"[yellow]disturbed[/] {row.get('name')}: {', '.join(row['interference'])}; "
                "other work on the machine moved these figures: run again on a quiet machine"
            )
    if result.get("verdict", {}).get("ok"):
        lines.append("[bold green]verdict: every promise holds[/]")
    else:
        lines.append("[bold red]verdict: falls short[/]")
    return lines


def tune_summary(report: dict[str, Any]) -> list[str]:
    """Tuned against default, in words (rich markup)."""
    best, base = report.get("best"), report["default"]
    if best is None:
        return [f"[red]no setting ran[/]: {report['why']}"]
    lines = [f"tuned: {Setting(**best['setting']).label()} ({report['why']})"]
    if base.get("score"):
        lines.append(
            f"in the sweep: tuned {best['score']:.2f} answer tok/s against default "
            f"{base['score']:.2f}: x{report['gain']:.2f} ({report['elapsed_s']:g} s)"
        )
    final = report.get("final") or {}
    if final.get("gain"):
        lines.append(
            f"back to back: tuned {final['best']['score']:.2f} against default "
            f"{final['default']['score']:.2f} answer tok/s: x{final['gain']:.2f}"
        )
    if report.get("recorded"):
        lines.append(f"recorded as tier {report['tier']}'s tuning in {report['recorded']}")
    return lines
