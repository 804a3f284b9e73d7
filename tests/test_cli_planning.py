"""The catalog and planning commands through the real CLI: output, --json and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.planning.recommend import recommend
from hybridctl.planning.results import Recommendation
from hybridctl.planning.workload import Workload

runner = CliRunner()


def _core(**fields: object) -> Recommendation:
    return recommend(load_catalog(), Workload.model_validate(fields))


def test_recommend_5000_requests_a_day() -> None:
    result = runner.invoke(app, ["recommend", "--requests-per-day", "5000"])
    assert result.exit_code == 0, result.output
    core = _core(requests_per_day=5000)
    lines = result.output.splitlines()
    assert lines[0] == f"Verdict: {core.verdict.headline}"
    assert lines[0].startswith("Verdict: Stay on the cloud: at 5,000 requests/day")
    assert "cloud only (the gateway without a box)" in result.output
    h = core.hybrid
    assert h is not None
    assert f"Cheapest box that carries it: Tier {h.tier} ({h.tier_name}) on {h.provider} " in (
        result.output
    )
    if core.verdict.beyond_ceiling:
        assert f"past the node ceiling: {core.verdict.beyond_ceiling}" in result.output
    assert "gpt-4o 33%, claude-3.5-sonnet 33%, gpt-4-turbo 33%" in result.output
    assert "decision tree picks Tier 3" in result.output
    assert "Every tier x provider considered" in result.output


def test_recommend_json_carries_the_verdict() -> None:
    result = runner.invoke(app, ["recommend", "-r", "300", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == json.loads(_core(requests_per_day=300).model_dump_json())
    assert data["verdict"]["answer"] == "cloud"
    assert data["verdict"]["headline"].startswith("Stay on the cloud")
    assert {"cloud_only_usd", "hybrid_usd", "hybrid_pays_from_requests_per_day"} <= set(
        data["verdict"]
    )
    hybrid = data["hybrid"]
    assert hybrid["hybrid_usd"] == pytest.approx(
        hybrid["server_usd"] + hybrid["spill"]["monthly_usd"]
    )
    members = [m["name"] for m in data["cloud_only"]["medium"]["members"]]
    assert "openrouter-llama-3.1-8b-free" in members  # the free member is priced in the mix
    model = hybrid["models"][0]
    assert model["speed_source"] in ("measured", "derived", "claimed") and model["speed_detail"]
    assert len(data["considered"]) > 10


def test_recommend_per_minute_equals_per_day() -> None:
    per_minute = json.loads(
        runner.invoke(app, ["recommend", "--requests-per-minute", "1", "--json"]).output
    )
    per_day = json.loads(runner.invoke(app, ["recommend", "-r", "1440", "--json"]).output)
    assert per_minute["hybrid"]["hybrid_usd"] == per_day["hybrid"]["hybrid_usd"]
    assert per_minute["verdict"] == per_day["verdict"]


def test_a_thousand_requests_a_month_says_stay_on_the_cloud() -> None:
    result = runner.invoke(app, ["recommend", "-r", str(1000 / 30)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Verdict: Stay on the cloud: at 33 requests/day")


def test_a_thousand_requests_a_minute_gets_a_priced_answer() -> None:
    result = runner.invoke(app, ["recommend", "--requests-per-minute", "1000"])
    assert result.exit_code == 0, result.output
    assert "Stay on the cloud" in result.output and "/month" in result.output
    assert "past the node ceiling:" in result.output and "--max-nodes" in result.output
    data = json.loads(
        runner.invoke(app, ["recommend", "--requests-per-minute", "1000", "--json"]).output
    )
    assert data["verdict"]["cloud_only_usd"] > 1000
    assert "--max-nodes" in data["verdict"]["beyond_ceiling"]


def test_decision_tree_questions_are_options() -> None:
    data = json.loads(runner.invoke(app, ["recommend", "-r", "30", "--learning", "--json"]).output)
    assert data["workload"]["learning"] is True and data["guide_tier"] == "1"
    data = json.loads(
        runner.invoke(app, ["recommend", "-r", "300", "--quality", "--sub-second", "--json"]).output
    )
    assert data["guide_tier"] == "4"
    assert data["hybrid"]["first_token_p95_s"] <= 1.0


def test_cloud_baseline_option_changes_what_cloud_only_means() -> None:
    args = ["recommend", "-r", "10000", "--response-tokens", "500"]
    routed = runner.invoke(app, args)
    large = runner.invoke(app, [*args, "--cloud-baseline", "large"])
    assert routed.exit_code == large.exit_code == 0, large.output
    assert "cloud only (the gateway without a box)" in routed.output
    assert "cloud only (every request on the large route): $3,215.00/month" in large.output
    assert runner.invoke(app, [*args, "--cloud-baseline", "gpt5"]).exit_code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --requests-per-day or --requests-per-minute"),
        (["-r", "10", "--requests-per-minute", "1"], "exactly one of"),
        (["-r", "-5"], "'--requests-per-day'"),
        (["-r", "inf"], "'--requests-per-day'"),
        (["-r", "1e30"], "'--requests-per-day'"),
        (["--requests-per-minute", "1e30"], "'--requests-per-minute'"),
        (["--requests-per-minute", "0"], "'--requests-per-minute': must be more than 0"),
        (["-r", "100", "--complex-share", "1.5"], "--complex-share"),
        (["-r", "100", "--complex-share", "0.2", "--large-share", "0.3"], "--large-share"),
        (["-r", "100", "--p95-latency", "0"], "'--p95-latency': must be more than 0"),
        (["-r", "100", "--budget", "0"], "'--budget': must be more than 0"),
        (["-r", "100", "--max-nodes", "0"], "'--max-nodes'"),
        (["-r", "100", "--max-nodes", "1000000000"], "'--max-nodes'"),
        (["-r", "100", "--prompt-tokens", "1000000000"], "'--prompt-tokens'"),
        (["-r", "100", "--provider", "hetzner", "--provider", "linode"], "unknown provider linode"),
        (["-r", "100", "-p", "hetzer"], "unknown provider hetzer (did you mean 'hetzner'?)"),
        (["-r", "100", "-p", "gpc", "-p", "aw"], "aw (did you mean 'aws'?), gpc (did you mean"),
    ],
)
def test_recommend_bad_input_exits_2_naming_the_flag(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["recommend", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert "0000000000" not in result.output.replace("1000000000", "")  # no 40-digit figures


def test_recommend_nothing_answers_exits_1() -> None:
    result = runner.invoke(app, ["recommend", "-r", "300", "--local-only", "--p95-latency", "0.5"])
    assert result.exit_code == 1, result.output
    assert "no tier x provider carries this traffic on its own boxes" in result.output
    assert "--max-nodes" in result.output
    assert "latency:" in result.output


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
    assert row["guide"]["cloud_only_usd"] == pytest.approx(1320)
    for bad in (
        ["--local-share", "2"],
        ["--requests-per-month", "-1"],
        ["--requests-per-month", "0"],
        ["--requests-per-month", "1e30"],
        ["--server-usd", "-5"],
        ["--server-usd", "inf"],
    ):
        result = runner.invoke(app, ["cost", *bad])
        assert result.exit_code == 2, bad
        assert bad[0] in result.output and "Traceback" not in result.output


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
    assert [t["id"] for t in tiers] == ["1", "2", "2.5", "3", "4", "5", "6"]
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
        (["recommend", "-r", "5000", "--json"], '"answer": "cloud"'),
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


@pytest.mark.parametrize(("json_flag", "drawn"), [(["--json"], False), ([], True)])
def test_recommend_json_draws_no_tables(json_flag: list[str], drawn: bool) -> None:
    """--json prints the result as it is: the Rich view is imported only to draw the tables."""
    code = (
        "import sys, runpy; sys.argv = ['hybridctl', *sys.argv[1:]];\n"
        "try:\n    runpy.run_module('hybridctl', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "view = {'hybridctl.cli.views.recommend', 'rich.table'} & set(sys.modules)\n"
        "print('view:', sorted(view), file=sys.stderr)\n"
    )
    args = ["recommend", "-r", "5000", *json_flag]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    expected = "['hybridctl.cli.views.recommend', 'rich.table']" if drawn else "[]"
    assert f"view: {expected}" in done.stderr
