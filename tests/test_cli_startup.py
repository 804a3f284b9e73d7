"""Start-up shortcuts keep the CLI's behaviour: option coercion, and the frozen objects at exit."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer._coercion import build_runtime_param
from typer.core import TyperArgument, TyperOption

from hybridctl.cli.app import app, guarded
from hybridctl.cli.command import _CoerceWhenGiven


def _params(command: str) -> Iterator[tuple[Any, Any]]:
    root = typer.main.get_command(app)
    parent = typer.Context(root)
    sub = root.get_command(parent, command)
    ctx = typer.Context(sub, parent=parent)
    for param in sub.get_params(ctx):
        if isinstance(param, TyperOption | TyperArgument):
            yield ctx, param


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> Any:
    try:
        return ("value", runtime.coerce(value, param, ctx))
    except Exception as exc:
        return ("error", type(exc), str(exc))


@pytest.mark.parametrize("command", ["recommend", "render", "bench", "deploy", "validate"])
def test_options_coerce_as_typer_does_with_validators_built_only_for_values(
    command: str,
) -> None:
    values = [None, "5000", "0.5", "-1", "abc", "routed", ["hetzner"], "/etc/hostname"]
    checked = 0
    for ctx, param in _params(command):
        values.append(param.default)
        assert isinstance(param.get_runtime_param(), _CoerceWhenGiven), param.name
        typers = build_runtime_param(param.type_descriptor)
        for value in values:
            lazy = _CoerceWhenGiven(
                parameter_info=param.type_descriptor.parameter_info,
                annotation=param.type_descriptor.annotation,
            )
            param._runtime_param = lazy
            ours = _outcome(param.get_runtime_param(), value, param, ctx)
            theirs = _outcome(typers, value, param, ctx)
            assert ours == theirs, (param.name, value)
            if value is None:  # needs no validator: the lazy coercion is still in place
                assert param._runtime_param is lazy, param.name
            checked += 1
        values.pop()
    assert checked > 20


def test_an_option_not_given_builds_no_validator() -> None:
    import typer._adapters as adapters

    built: list[Any] = []
    real = adapters.try_build_adapter

    def counting(annotation: Any, parameter_info: Any) -> Any:
        built.append(annotation)
        return real(annotation, parameter_info)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adapters, "try_build_adapter", counting)
        root = typer.main.get_command(app)
        with pytest.raises(SystemExit) as done:
            root.main(["recommend", "--requests-per-day", "5000", "--json"])
    assert done.value.code == 0
    # recommend has 19 options; 11 are None or flags here (no validator); 8 carry values.
    assert len(built) == 8, built


def _run_guarded() -> int:
    return guarded(lambda: 7)()


def test_only_the_console_script_freezes_what_is_loaded() -> None:
    before = gc.get_freeze_count()
    assert gc.isenabled()
    assert _run_guarded() == 7
    assert gc.get_freeze_count() == before  # a library or test caller: nothing frozen
    gc.disable()  # as main() does
    try:
        assert _run_guarded() == 7
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
        gc.enable()
