"""The Typer group and command classes: lazy commands, and help without type placeholders."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _value_type(param: TyperOption | TyperArgument) -> Any:
    annotation = param.type_descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation) or (str,)
    return annotation


def _metavar(param: TyperOption) -> str:
    """A name for the value an option takes, for options that do not set one."""
    kind = _value_type(param)
    if isinstance(kind, type) and issubclass(kind, bool):
        return ""
    if isinstance(kind, type) and issubclass(kind, int):
        return "N"
    if isinstance(kind, type) and issubclass(kind, float):
        return "NUMBER"
    if isinstance(kind, type) and issubclass(kind, Path):
        return "FILE"
    longest = max(param.opts, key=len).lstrip("-")
    return longest.rsplit("-", 1)[-1].upper() or "VALUE"


class _Argument(TyperArgument):
    """An argument whose help row shows its name only (the name already says what it is)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Bounded(TyperOption):
    """A bounded option (cli.options.bounded): its help shows the range its callback checks."""

    def _get_number_range_help_str(self) -> str | None:
        return str(self.callback.bounds.describe())  # type: ignore[union-attr]


def tidy(params: list[Any]) -> list[Any]:
    """Give every parameter a display name: none for flags, a word for values."""
    for param in params:
        bounds = getattr(param.callback, "bounds", None)
        if isinstance(param, TyperOption) and bounds is not None:
            param.min, param.max = bounds.low, bounds.high  # what it takes, for the help
            # Typer builds the option itself; swapping in the subclass is the only hook.
            param.__class__ = _Bounded
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption):
            param.metavar = "" if param.is_flag or param.count else _metavar(param)
        elif isinstance(param, TyperArgument) and param.name:
            param.metavar = param.name.upper()
            # Typer builds the argument itself; swapping in the subclass is the only hook.
            param.__class__ = _Argument
    return params


def _usage(params: list[Any], options_metavar: str | None) -> list[str]:
    pieces = [options_metavar] if options_metavar else []
    for param in params:
        if isinstance(param, TyperArgument):
            name = param.metavar or (param.name or "ARG").upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


def _keep_lines(text: str) -> str:
    """Mark paragraphs of one-line examples so the help formatter does not run them together."""
    paragraphs = text.split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        lines = paragraph.splitlines()
        if len(lines) > 1 and all(line.startswith(("Example", "$ ")) for line in lines):
            paragraphs[index] = "\b\n" + paragraph  # Click's "do not rewrap" marker
    return "\n\n".join(paragraphs)


class SubGroup(TyperGroup):
    """A command with modes (`keys add|list|revoke`): its help keeps example lines apart."""

    def format_help_text(self, ctx: Any, formatter: Any) -> None:
        if self.help:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(_keep_lines(inspect.cleandoc(self.help)))


class Command(TyperCommand):
    """A Typer command whose help shows NAME, N, SECONDS rather than <str>, <int>, {name}."""

    def format_help_text(self, ctx: Any, formatter: Any) -> None:
        if self.help:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(_keep_lines(inspect.cleandoc(self.help)))

    def get_params(self, ctx: Any) -> list[Any]:
        return tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self.get_params(ctx), self.options_metavar)


@dataclass
class Lazy:
    """A command registered by 'module:function', imported only when it is looked up (Click's
    lazily loaded subcommands: `--help` imports each command module, none of the core)."""

    target: str
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    settings: dict[str, Any] = field(default_factory=dict)


def summary(doc: str | None) -> str | None:
    """A docstring's first paragraph on one line: the command's line in `--help`, unshortened."""
    first = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines()) or None


REGISTRY: dict[str, Lazy | None] = {}  # every command in registration order; None: eager


def _build(name: str, lazy: Lazy, markup: Any) -> Any:
    from typer.main import get_command_from_info
    from typer.models import CommandInfo

    module, _, function = lazy.target.partition(":")
    settings = dict(lazy.settings)
    try:
        target = getattr(importlib.import_module(module), function)
    except Exception as exc:  # run it anyway: the guard reports a missing extra, or the bug
        failure = exc

        def target() -> None:
            raise failure

        settings["context_settings"] = {"ignore_unknown_options": True, "allow_extra_args": True}
    settings.setdefault("short_help", summary(target.__doc__))
    group = _group_of(target)
    if group is not None:
        built = _build_group(name, group, lazy)
        built.short_help = settings["short_help"]
        return built
    info = CommandInfo(name=name, cls=Command, callback=lazy.wrap(target), **settings)
    return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=markup)


def _group_of(callback: Any) -> Any:
    """The Typer app whose group callback `callback` is (a command with modes), else None."""
    import typer

    module = sys.modules.get(getattr(callback, "__module__", ""), None)
    for value in vars(module).values() if module else ():
        registered = getattr(value, "registered_callback", None)
        if isinstance(value, typer.Typer) and registered and registered.callback is callback:
            return value
    return None


def _build_group(name: str, group: Any, lazy: Lazy) -> Any:
    """A group's click command; each subcommand guarded like a command (once per process)."""
    from typer.main import get_group

    for info in group.registered_commands:
        if getattr(info.callback, "__wrapped__", None) is None:
            info.callback = lazy.wrap(info.callback)
    built = get_group(group)
    built.name = name
    return built


class _Commands(dict[str, Any]):
    """Name -> command, in registration order; a lazy command is built on first lookup."""

    def __init__(self, eager: dict[str, Any], markup: Any) -> None:
        super().__init__()
        self.markup = markup
        for name in [*REGISTRY, *eager]:
            if name in eager or REGISTRY.get(name) is not None:
                super().__setitem__(name, eager.get(name))

    def peek(self, name: str) -> Any:
        return super().get(name)

    def __getitem__(self, name: str) -> Any:
        command = super().__getitem__(name)
        if command is None:
            lazy = REGISTRY[name]
            assert lazy is not None
            command = _build(name, lazy, self.markup)
            super().__setitem__(name, command)
        return command

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if name not in self:
            return default
        return self[name]

    def values(self) -> Any:  # type: ignore[override]
        return [self[name] for name in self]

    def items(self) -> Any:  # type: ignore[override]
        return [(name, self[name]) for name in self]


class Group(TyperGroup):
    """The application group: tidy help, and commands imported only when needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(dict(self.commands), self.rich_markup_mode)

    def get_params(self, ctx: Any) -> list[Any]:
        return tidy(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self.commands.get(cmd_name)  # a lazy command's module is imported here, once

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: listing imports nothing
