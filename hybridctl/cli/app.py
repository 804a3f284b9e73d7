"""The Typer application: registers every command and maps errors to exit codes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import typer

from hybridctl.errors import EXIT_FAILED, HybridctlError

DEBUG_ENV = "HYBRIDCTL_DEBUG"

app = typer.Typer(
    name="hybridctl",
    help="Size, deploy and prove a self-hosted hybrid (local + cloud) LLM server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from hybridctl import __version__

        typer.echo(f"hybridctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Size, deploy and prove a self-hosted hybrid (local + cloud) LLM server."""


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn hybridctl errors into a message and an exit code; no traceback unless debugging."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hybridctl.cli.output import report_error

        try:
            return fn(*args, **kwargs)
        except HybridctlError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            report_error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug, not bad input: say so without a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            report_error(
                f"internal error: {type(exc).__name__}: {exc}",
                f"Run again with {DEBUG_ENV}=1 for the traceback, and report it.",
            )
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


def command(name: str, fn: Callable[..., Any], **kwargs: Any) -> None:
    """Register fn as a guarded command."""
    app.command(name, **kwargs)(guarded(fn))


def _register() -> None:
    from hybridctl.cli import catalog_cmds, cost_cmd, deploy_cmd, recommend_cmd

    command("tiers", catalog_cmds.tiers)
    command("models", catalog_cmds.models)
    command("validate", catalog_cmds.validate)
    command("recommend", recommend_cmd.recommend_cmd)
    command("cost", cost_cmd.cost)
    command("deploy", deploy_cmd.deploy)
    command("status", deploy_cmd.status)
    command("outputs", deploy_cmd.outputs)
    command("destroy", deploy_cmd.destroy)
    command("deployments", deploy_cmd.deployments)
    from hybridctl.cli import render_cmd

    command("render", render_cmd.render)
    from hybridctl.cli import bench_cmd

    command("bench", bench_cmd.bench)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
