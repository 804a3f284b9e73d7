"""The catalog and planning commands through the real CLI: output, --json and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hybridctl.cli.app import app

runner = CliRunner()


def test_recommend_5000_requests_a_day() -> None:
    result = runner.invoke(app, ["recommend", "--requests-per-day", "5000"])
    assert result.exit_code == 0, result.output
    assert "Recommendation: Tier 4 (GPU Power) on gcp n1-standard-4" in result.output
    assert "vs cloud-only" in result.output
    assert "break-even" in result.output
    assert "decision tree picks Tier 3" in result.output
    assert "Every tier x provider considered" in result.output


def test_recommend_json_is_the_same_as_data() -> None:
    result = runner.invoke(app, ["recommend", "-r", "300", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tier"] == "2" and data["provider"] == "hetzner"
    assert data["hybrid_usd"] == pytest.approx(data["server_usd"] + data["cloud_spill_usd"])
    assert {"local_share", "headroom", "p95_latency_s", "break_even_requests_per_day"} <= set(data)
    assert len(data["considered"]) > 10


def test_recommend_per_minute_equals_per_day() -> None:
    per_minute = json.loads(
        runner.invoke(app, ["recommend", "--requests-per-minute", "1", "--json"]).output
    )
    per_day = json.loads(runner.invoke(app, ["recommend", "-r", "1440", "--json"]).output)
    assert per_minute["hybrid_usd"] == per_day["hybrid_usd"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --requests-per-day or --requests-per-minute"),
        (["-r", "10", "--requests-per-minute", "1"], "exactly one of"),
        (["-r", "-5"], "--requests-per-day: Input should be greater than 0"),
        (["-r", "inf"], "--requests-per-day: Input should be a finite number"),
        (["-r", "100", "--complex-share", "1.5"], "--complex-share"),
        (["-r", "100", "--provider", "hetzner", "--provider", "linode"], "unknown provider linode"),
    ],
)
def test_recommend_bad_input_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["recommend", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_recommend_nothing_carries_it_exits_1() -> None:
    result = runner.invoke(app, ["recommend", "-r", "50000"])
    assert result.exit_code == 1
    assert "no tier x provider carries this traffic" in result.output
    assert "--max-nodes" in result.output
    assert "capacity:" in result.output


def test_cost_prints_the_four_scenarios() -> None:
    result = runner.invoke(app, ["cost"])
    assert result.exit_code == 0, result.output
    for figure in (
        "$84",
        "$86",
        "$660",
        "$502",
        "$158 (24%",
        "$3,900",
        "$3,120",
        "$10,800",
        "$6,310",
        "$4,490 (42%",
    ):
        assert figure in result.output, figure


def test_cost_json_and_override() -> None:
    result = runner.invoke(app, ["cost", "--tier", "2", "--requests-per-month", "20000", "--json"])
    assert result.exit_code == 0
    (row,) = json.loads(result.output)
    assert row["cloud_only_usd"] == pytest.approx(1320)
    for bad in (["--local-share", "2"], ["--requests-per-month", "-1"], ["--server-usd", "-5"]):
        assert runner.invoke(app, ["cost", *bad]).exit_code == 2, bad


@pytest.mark.parametrize(
    "args",
    [["cost", "--tier", "[/x]"], ["recommend", "-r", "10", "-p", "[bold]aws"]],
)
def test_user_input_in_messages_is_not_markup(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert args[-1] in result.output


def test_tiers_and_models_json() -> None:
    tiers = json.loads(runner.invoke(app, ["tiers", "--json"]).output)
    assert [t["id"] for t in tiers] == ["1", "2", "2.5", "3", "4"]
    assert tiers[0]["cheapest_offer"]["provider"] == "hetzner"
    models = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert models["tinyllama-1.1b-chat-q4_k_m"]["quantization"] == "Q4_K_M"


def test_tables_render() -> None:
    assert "Ternary-Optimized" in runner.invoke(app, ["tiers"]).output
    assert "llama3-8b-1.58-tq2_0" in runner.invoke(app, ["models"]).output


def test_debug_variable_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("HYBRIDCTL_DEBUG", "1")
    result = runner.invoke(app, ["cost", "--tier", "9"])
    assert result.exit_code != 0
    assert result.exception is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cost", "--tier", "2"], "$502"),
        (["recommend", "-r", "5000", "--json"], '"tier": "4"'),
        (["--help"], "recommend"),
        (["deploy", "--help"], "Example: hybridctl deploy"),
        (["bench", "--help"], "Example: hybridctl bench"),
    ],
)
def test_python_dash_m_and_start_up_imports_nothing_heavy(args: list[str], expected: str) -> None:
    code = (
        "import sys, runpy; sys.argv = ['hybridctl', *sys.argv[1:]];\n"
        "try:\n    runpy.run_module('hybridctl', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('pulumi', 'llama_cpp', 'litellm', 'jinja2', 'jsonschema')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
