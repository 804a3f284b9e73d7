"""How the day-two commands draw: a box's live check, a backup and a restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from hybridctl.cli.output import console

_MARK = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def print_check(report: Any) -> None:
    """`status NAME --check`: where and when, one line per item, then the verdict."""
    console.print(
        f"[bold]{report.name}[/]: tier {report.tier} on {report.provider}, checked on "
        f"{escape(report.where)} at {report.checked}"
    )
    for item in report.items:
        console.print(
            f"  {_MARK[item.level]}  {item.what:<34} {escape(item.detail)}", soft_wrap=True
        )
    problems = len(report.problems)
    console.print(
        "[bold green]healthy[/]"
        if report.healthy
        else f"[bold red]unhealthy[/]: {problems} problem{'s' if problems != 1 else ''}"
    )


def print_backup(name: str, tier: str, out: Path, manifest: dict[str, Any]) -> None:
    """A written backup: what it holds, and that it holds the keys."""
    parts = ", ".join(manifest["parts"])
    console.print(
        f"Backed up {name} (tier {tier}) to {out}: {parts}. It holds the deployment's "
        "keys: keep it as safe as the box."
    )


def print_restore(name: str, source: Path, result: Any) -> None:
    """A restore's notes, what came back, and the box's check after it."""
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    state = "healthy" if result.report.healthy else "NOT healthy"
    console.print(
        f"Restored {', '.join(result.restored)} from {source} onto {name}; the box is {state}."
    )
    for item in result.report.problems:
        console.print(f"  FAIL {item.what}: {item.detail}", markup=False)
