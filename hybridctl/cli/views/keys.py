"""How `hybridctl keys` draws: a new key (shown once), the key list, a revocation."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from hybridctl.cli.output import console


def print_keys(action: str, target: str, answer: Any) -> None:
    """The answer of `keys add`, `keys list` or `keys revoke` on deployment target."""
    if action == "add":
        budget = answer.get("daily_budget_usd") or "none (the deployment's budget applies)"
        console.print(f"key {escape(answer['name'])} ({answer['tier']}, daily budget {budget}):")
        typer.echo(answer["key"])
        console.print("Store it now: it is shown once, and the deployment keeps only its hash.")
    elif action == "list":
        if not answer:
            console.print(f"{target} has no client keys (hybridctl keys add NAME --tier paid)")
        for row in answer:
            budget = row.get("daily_budget_usd") or "-"
            console.print(
                f"{escape(row['name'].ljust(24))} {row['tier']:<8} budget {budget:<8} "
                f"spent today ${row['spent_today_usd']:.4f}  created {row['created']}"
            )
    else:
        console.print(f"key {escape(answer['name'])} revoked: the gateway refuses it from now on")
