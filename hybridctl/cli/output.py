"""Console helpers shared by the commands: JSON output, tables, error reports."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

# Piped output (CI logs, `| less`) gets room for the wide tables instead of Rich's 80 columns.
_width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
console = Console(highlight=False, width=_width)
err_console = Console(stderr=True, highlight=False, width=_width)


def print_json(data: Any) -> None:
    """Write data as JSON to stdout (never through rich, so it stays parseable)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def report_error(message: str, hint: str | None = None) -> None:
    """Print a user-facing error paragraph to stderr (user input in it is never markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
