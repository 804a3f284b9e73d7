"""Console helpers shared by the commands and views: the consoles, JSON output, error reports."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_consoles: dict[str, Console] = {}


def __getattr__(name: str) -> Console:
    """`console` and `err_console`, made on first use: `--json` output never loads Rich."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        # Piped output (CI logs, `| less`) gets room for the wide tables, not Rich's 80 columns.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
        _consoles[name] = Console(highlight=False, width=width, stderr=name == "err_console")
    return _consoles[name]


def money(value: float | None) -> str:
    """A dollar amount as the views print it ("-" for none)."""
    return "-" if value is None else f"${value:,.2f}"


def print_json(data: Any) -> None:
    """Write data as JSON to stdout (never through rich, so it stays parseable)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def report_error(message: str, hint: str | None = None) -> None:
    """Print a user-facing error paragraph to stderr (user input in it is never markup)."""
    from rich.markup import escape

    err = __getattr__("err_console")
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)


def warn(message: str) -> None:
    from rich.markup import escape

    __getattr__("err_console").print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
