"""The Typer application: registers every command and maps errors to exit codes."""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any

import typer

from hybridctl.cli.command import REGISTRY, Command, Group, Lazy
from hybridctl.errors import EXIT_FAILED, HybridctlError

DEBUG_ENV = "HYBRIDCTL_DEBUG"

app = typer.Typer(
    name="hybridctl",
    help="Size, deploy and prove a self-hosted hybrid (local + cloud) LLM server.",
    no_args_is_help=True,
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # Plain help: Typer's Rich renderer imports more than typer, rich and pydantic together
    # (docs/performance-startup.md).
    rich_markup_mode=None,
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

        if not gc.isenabled():
            # The console script (main) turned collection off. What is loaded by now (modules,
            # the parsed command line) lives until exit: frozen, it is left out of the
            # collection at exit, which would walk every object (~30 ms of a short command).
            # What the command creates from here on is collected at exit as before.
            gc.freeze()
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
            from hybridctl.extras import from_import_error

            missing = from_import_error(exc)  # an optional extra's package, not a bug
            if missing is not None:
                report_error(missing.message, missing.hint)
                raise typer.Exit(missing.exit_code) from None
            report_error(
                f"internal error: {type(exc).__name__}: {exc}",
                f"Run again with {DEBUG_ENV}=1 for the traceback, and report it.",
            )
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


def command(name: str, target: Callable[..., Any] | str, **kwargs: Any) -> None:
    """Register a guarded command; a "module:function" target is imported only when used."""
    if isinstance(target, str):
        REGISTRY[name] = Lazy(target, guarded, kwargs)
        return
    REGISTRY[name] = None
    app.command(name, cls=Command, **kwargs)(guarded(target))


def _register() -> None:
    # By name, so that start-up and `--help` import no command module (and no catalog).
    command("tiers", "hybridctl.cli.catalog_cmds:tiers")
    command("models", "hybridctl.cli.catalog_cmds:models")
    command("validate", "hybridctl.cli.catalog_cmds:validate")
    command("recommend", "hybridctl.cli.recommend_cmd:recommend_cmd")
    command("cost", "hybridctl.cli.cost_cmd:cost")
    command("deploy", "hybridctl.cli.deploy_cmd:deploy")
    command("outputs", "hybridctl.cli.deploy_cmd:outputs")
    command("destroy", "hybridctl.cli.deploy_cmd:destroy")
    command("deployments", "hybridctl.cli.deploy_cmd:deployments")
    command("upgrade", "hybridctl.cli.upgrade_cmd:upgrade")
    command("render", "hybridctl.cli.render_cmd:render")
    command("bench", "hybridctl.cli.bench_cmd:bench")
    command("status", "hybridctl.cli.status_cmd:status")
    command("logs", "hybridctl.cli.ops_cmds:logs")
    command("backup", "hybridctl.cli.ops_cmds:backup")
    command("restore", "hybridctl.cli.ops_cmds:restore")
    command("keys", "hybridctl.cli.keys_cmd:keys")
    command("route", "hybridctl.cli.route_cmd:route")
    command("prices", "hybridctl.cli.prices_cmd:prices")


_register()


def main() -> None:
    """Run the app (the console script, `hybridctl.cli.main`, prepares the process first)."""
    app()
