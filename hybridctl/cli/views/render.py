"""Draws `hybridctl render`'s summary and `render --check`'s all-clear line."""

from __future__ import annotations

from typing import Any

from hybridctl.cli.output import console


def print_summary(summary: dict[str, Any]) -> None:
    """A render's files, memory-limit table, secrets' origin, notes and check verdict."""
    from rich.table import Table

    console.print(
        f"Rendered tier {summary['tier']} ({summary['server']}, {summary['provider']}) "
        f"into {summary['out']}: {len(summary['written'])} written, "
        f"{len(summary['unchanged'])} unchanged"
        + (f", {len(summary['removed'])} removed" if summary["removed"] else "")
    )
    table = Table("service", "memory limit (MiB)", title="Memory limits")
    for name, mib in summary["memory_mib"].items():
        table.add_row(name, str(mib))
    table.add_row(
        "total", f"{summary['memory_total_mib']} of {summary['memory_budget_mib']} after the OS"
    )
    console.print(table)
    env = summary["env"]
    if env["generated"]:
        console.print(f"Generated in {env['file']} (0600): {', '.join(env['generated'])}")
    if env["from_environment"]:
        console.print(f"Taken from your environment: {', '.join(env['from_environment'])}")
    for note in summary["notes"]:
        console.print(f"note: {note}")
    if not summary["problems"]:
        console.print("Check: ok (YAML, Compose Specification, memory, ports, secrets)")


def print_check_ok(summary: dict[str, Any]) -> None:
    """The one line for a bundle that passes `render --check` (summary from check_summary)."""
    total = sum(summary["memory_mib"].values())
    console.print(
        f"{summary['bundle']}: ok (tier {summary['tier']}; memory limits {total:.0f} of "
        f"{summary['memory_budget_mib'] or 0:.0f} MiB)"
    )
