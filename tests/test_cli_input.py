"""Bounded, named input through the real CLI: ranges, flag names, did-you-mean, -h, completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hybridctl.cli.app import app
from hybridctl.cli.command import REGISTRY, Lazy
from tests.record_fixtures import save_test_record

runner = CliRunner()
HYBRIDCTL = Path(sys.executable).with_name("hybridctl")
TYPE_NAMES = {"TEXT", "INTEGER", "FLOAT", "PATH", "BOOLEAN"}


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def _commands() -> dict[str, typing.Any]:
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    return {name: root.get_command(ctx, name) for name in root.list_commands(ctx)}


def _value_type(param: typing.Any) -> typing.Any:
    annotation = param.type_descriptor.annotation
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
    return annotation


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_short_and_long(flag: str) -> None:
    for args in ([flag], ["render", flag], ["recommend", flag]):
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        assert "Usage: " in result.output


def test_every_numeric_option_has_a_range() -> None:
    """NaN, infinity and 1e308 get through an option without an upper bound; every numeric
    option is declared with cli.options.bounded, whose one check words each bound one way."""
    unbounded = [
        f"{name} {param.opts[0]}"
        for name, command in _commands().items()
        for param in command.params
        if _value_type(param) in (int, float) and getattr(param.callback, "bounds", None) is None
    ]
    assert not unbounded, f"numeric options without a range: {unbounded}"


def _bounded_options() -> list[tuple[str, typing.Any, typing.Any]]:
    return [
        (name, param, param.callback.bounds)
        for name, command in _commands().items()
        for param in command.params
        if getattr(param.callback, "bounds", None) is not None
    ]


def _refusal(output: str) -> str:
    """The error line's words about the bound, without the value that crossed it."""
    line = next(line for line in output.splitlines() if "Invalid value" in line)
    return line.split("': ", 1)[1].rsplit(", got ", 1)[0]


@pytest.mark.parametrize(
    ("args", "values", "message"),
    [
        (["recommend", "-r"], ["-5", "0", "nan", "-1e308"], "must be more than 0"),
        (["bench", "--repetitions"], ["-5", "0", "-99999999999999999999"], "must be at least 1"),
        (["cost", "--requests-per-month"], ["-5", "0", "nan"], "must be more than 0"),
    ],
)
def test_one_message_per_bound(args: list[str], values: list[str], message: str) -> None:
    """`-r -5` and `-r 0` (and NaN) cross one bound: one message, naming it and the flag."""
    refusals = set()
    for value in values:
        result = _invoke(*args, value)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
        assert f"'{args[1]}'" in result.output
        refusals.add(_refusal(result.output))
    assert refusals == {message}, refusals


def _past(bounds: typing.Any, kind: type) -> tuple[list[str], list[str]]:
    """Values below the range (and its open lower end) and values above it, as typed."""
    if kind is int:
        low, high = int(bounds.low), int(bounds.high)
        below, above = [str(low - 1), str(low - 10**20)], [str(high + 1), str(high + 10**20)]
    else:
        below, above = [str(bounds.low - 1), "-1e300"], [str(bounds.high * 10 + 1), "1e300"]
    return below + ([str(bounds.low)] if bounds.above else []), above


def test_every_bound_is_checked_before_the_command_runs() -> None:
    """Every bounded option: values past either end (or at an open lower end) give that
    bound's one message and exit 2 before the command runs."""
    seen = 0
    for name, param, bounds in _bounded_options():
        flag = max(param.opts, key=len)
        prefix = [name, "add", "k"] if name == "keys" else [name]
        below, above = _past(bounds, _value_type(param))
        for values, words in ((below, "more than" if bounds.above else "at least"),
                              (above, "at most")):  # fmt: skip
            refusals = set()
            for value in values:
                result = _invoke(*prefix, flag, value)
                assert result.exit_code == 2, (name, flag, value, result.output)
                refusals.add(_refusal(result.output))
            assert len(refusals) == 1 and words in refusals.pop(), (name, flag, values)
            seen += 1
    assert seen >= 60


def test_help_names_values_instead_of_types() -> None:
    for name in _commands():
        result = _invoke(name, "-h")  # every command: -h is help, never another option
        assert result.exit_code == 0, result.output
        usage = result.output.split("\n\n")[0]
        assert "{" not in usage, usage
        options = result.output[result.output.find("Options:") :]
        for line in options.splitlines():
            if not line.strip().startswith("-"):
                continue  # a wrapped help line
            names = line.strip().split("  ")[0]
            assert "<" not in names and "{" not in names, f"{name}: {line!r}"
            assert not TYPE_NAMES & set(re.split(r"[ ,/]+", names)), f"{name}: {line!r}"


def test_an_argument_is_named_in_usage() -> None:
    result = _invoke("outputs", "--help")
    assert "Usage: hybridctl outputs [OPTIONS] NAME" in result.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["bench", "--repetitions", "0"], "'--repetitions'"),
        (["bench", "--requests", "100000000000"], "'--requests'"),
        (["bench", "--serve", "http://127.0.0.1:1", "--target-rpm", "nan"], "'--target-rpm'"),
        (["bench", "--serve", "http://127.0.0.1:1", "--target-rpm", "1e308"], "'--target-rpm'"),
        (["bench", "--threads", "-1"], "'--threads'"),
        (["deploy", "--tier", "1", "--provider", "hetzner", "--nodes", "1000"], "'--nodes'"),
        (["recommend", "--requests-per-day", "1e30"], "'--requests-per-day'"),
        (["cost", "--requests-per-month", "1e308"], "'--requests-per-month'"),
        (["logs", "box", "--tail", "0"], "'--tail'"),
    ],
)
def test_out_of_range_numbers_are_refused_naming_the_flag(args: list[str], flag: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert flag in result.output


def test_a_bad_serve_url_names_serve_not_an_internal_flag() -> None:
    result = _invoke("bench", "--serve", "localhost:8080")
    assert result.exit_code == 2
    assert "'--serve'" in result.output and "--url" not in result.output


def test_dev_null_as_a_model_is_not_a_regular_file(tmp_path: Path) -> None:
    result = _invoke("bench", "--model", os.devnull)
    assert result.exit_code == 2
    assert "not a regular file" in result.output and "does not exist" not in result.output
    result = _invoke("bench", "--model", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.output


def test_render_refuses_a_tier_the_provider_cannot_host(tmp_path: Path) -> None:
    result = _invoke("render", "--tier", "4", "--out", str(tmp_path / "b"))  # Hetzner: no GPU
    assert result.exit_code == 2
    assert "no hetzner offer" in result.output and "aws, gcp" in result.output
    assert not (tmp_path / "b").exists()
    result = _invoke("render", "--tier", "4", "--provider", "aws", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["render", "--tier", "1", "--provider", "hetzer"], "'hetzner'"),
        (["render", "--tier", "2.6"], "'2.5'"),
        (["rendr"], "'render'"),
    ],
)
def test_did_you_mean(args: list[str], suggestion: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2
    assert "did you mean" in result.output.lower() and suggestion in result.output


def test_did_you_mean_a_deployment_name() -> None:
    save_test_record("llm-prod", instance_type="cx33")
    for args in (["outputs"], ["status"], ["logs"], ["destroy", "--yes"], ["bench", "-d"]):
        result = _invoke(*args, "llm-prd")
        assert result.exit_code == 2, args
        assert "did you mean 'llm-prod'" in result.output, args


def _complete(words: str, env: dict[str, str]) -> list[str]:
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    completion = {"_HYBRIDCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    done = subprocess.run(
        [str(HYBRIDCTL)], env={**env, **completion}, capture_output=True, text=True, timeout=60
    )
    return done.stdout.split()


def test_shell_completion(isolated_env: Path) -> None:
    env = {**os.environ, "SHELL": "/bin/bash"}
    script = subprocess.run(
        [str(HYBRIDCTL), "--show-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "_HYBRIDCTL_COMPLETE" in script.stdout
    assert _complete("hybridctl ren", env) == ["render"]
    assert _complete("hybridctl render --provider a", env) == ["aws"]
    assert "2.5" in _complete("hybridctl render --tier ", env)


def test_help_imports_the_command_modules_but_no_core_module() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['hybridctl', '--help']\n"
        "from hybridctl.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('hybridctl.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip().splitlines()[-1]
    # Click's lazily loaded subcommands: each command module is imported for its help line;
    # the catalog, the planning core, the renderer and the deployers are not
    assert "hybridctl.cli.recommend_cmd" in loaded, loaded
    for core in ("catalog", "planning.workload", "render", "deploy", "gateway", "ops"):
        assert f"'hybridctl.{core}" not in loaded, (core, loaded)


def test_each_command_is_listed_with_its_whole_first_paragraph() -> None:
    from hybridctl.cli.command import summary

    help_text = " ".join(CliRunner().invoke(app, ["--help"]).output.split())
    for name, command in _commands().items():
        if REGISTRY.get(name) is None:
            continue
        first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
        assert summary(command.help) == first_paragraph, name
        assert f"{name} {first_paragraph}" in help_text, name


def test_a_command_module_that_fails_to_import_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hybridctl.cli.app import guarded

    monkeypatch.setitem(REGISTRY, "broken", Lazy("hybridctl.errors:no_such_command", guarded))
    result = _invoke("broken", "--any", "thing")
    assert result.exit_code == 1
    assert "internal error: AttributeError" in result.output
    assert "Traceback" not in result.output


def test_examples_keep_their_own_lines_in_help() -> None:
    result = _invoke("deploy", "--help")
    examples = [line.strip() for line in result.output.splitlines() if "Example:" in line]
    assert len(examples) >= 3 and all(line.startswith("Example: ") for line in examples)
    assert all(line.count("Example:") == 1 for line in examples)


def test_devices_and_empty_files_are_refused_as_key_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pub"
    empty.write_text("")
    render = ["render", "--tier", "1", "--out", str(tmp_path / "b"), "--admin-cidr", "1.2.3.4/32"]
    for key, words in ((os.devnull, "not a regular file"), (str(empty), "is empty")):
        result = _invoke(*render, "--ssh-public-key", key)
        assert result.exit_code == 2 and words in result.output, result.output
    assert not (tmp_path / "b").exists()
    result = _invoke("bench", "--host", "user@192.0.2.1", "--identity", os.devnull)
    assert result.exit_code == 2 and "--identity" in result.output
    assert "not a regular file" in result.output
