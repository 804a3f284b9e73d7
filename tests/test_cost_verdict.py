"""`cost` and `recommend` give one verdict: the same answer on whether a box pays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.cli.app import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
# Twelve traffic levels, requests a month, from a hobby project to past what one box carries.
LEVELS = [300, 1_000, 3_000, 6_000, 10_000, 20_000, 50_000, 100_000, 300_000, 1e6, 3e6, 1e7]


@pytest.fixture(scope="module")
def pricey_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalog with the medium cloud routes priced like the large ones, so that a box
    pays at some of the levels and not at others (with the shipped prices it never does)."""
    text = (ROOT / "tiers.yaml").read_text()
    for cheap in (
        "input_usd_per_mtok: 0.05\n    output_usd_per_mtok: 0.08",
        "input_usd_per_mtok: 0.24\n    output_usd_per_mtok: 0.24",
        "input_usd_per_mtok: 0.075\n    output_usd_per_mtok: 0.3",
    ):
        assert cheap in text, cheap
        text = text.replace(cheap, "input_usd_per_mtok: 3\n    output_usd_per_mtok: 15")
    path = tmp_path_factory.mktemp("catalog") / "tiers.yaml"
    path.write_text(text)
    return path


def _run(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cost_and_recommend_agree_on_twelve_traffic_levels(pricey_catalog: Path) -> None:
    answers = []
    for per_month in LEVELS:
        (row,) = _run(  # type: ignore[misc]
            "cost", "--tier", "2", "--requests-per-month", f"{per_month:g}",
            "--catalog", str(pricey_catalog), "--json",
        )  # fmt: skip
        plan = _run(
            "recommend", "--requests-per-day", repr(per_month / 30), "--complex-share", "0.3",
            "--catalog", str(pricey_catalog), "--json",
        )  # fmt: skip
        box_pays = plan["verdict"]["answer"] == "hybrid"  # type: ignore[index]
        assert row["box_pays"] is box_pays, per_month
        assert row["cloud_only_usd"] == pytest.approx(plan["verdict"]["cloud_only_usd"])  # type: ignore[index]
        answers.append(box_pays)
    assert any(answers) and not all(answers), answers  # the table has both answers


def test_cost_shows_the_plan_and_the_guides_figure_with_why() -> None:
    result = runner.invoke(app, ["cost", "--tier", "2"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "the guide's figure" in out and "this plan (tier 2)" in out
    assert "$502" in out and "$158 (24%, 3.0x VPS)" in out  # the guide's own arithmetic
    assert "Verdict: Stay on the cloud" in out  # recommend's answer at this traffic
    assert "Why the guide's figures differ" in out and "token prices" in out
    assert "seed" not in out.lower()


def test_cost_json_carries_the_guides_row_and_the_plans() -> None:
    (row,) = _run("cost", "--tier", "4", "--json")  # type: ignore[misc]
    assert row["guide"]["hybrid_usd"] == pytest.approx(6310)
    assert row["tier_option"]["tier"] == "4" and row["tier_price_as_of"]
    assert row["same_as"].startswith("hybridctl recommend --requests-per-day")
