"""GPU throughput with continuous batching: the curve, the slots VRAM holds, the plan it gives."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.catalog.checks import price_snapshot_age
from hybridctl.catalog.schema import Gpu
from hybridctl.cli.app import app
from hybridctl.planning.batching import (
    BANDWIDTH_EFFICIENCY,
    batch_curve,
    slots_that_fit,
    usable_vram_mib,
)
from hybridctl.planning.capacity import model_speed

CATALOG = load_catalog()
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
MISTRAL = "mistral-7b-instruct-v0.2-q4_k_m"


def test_a_t4_has_15360_mib_and_unknown_cards_keep_a_margin() -> None:
    t4 = Gpu(model="NVIDIA T4", count=1, vram_gib=16, memory_bandwidth_gbs=320)
    assert usable_vram_mib(t4) == 15_360
    assert usable_vram_mib(CATALOG.tier("4").gpu) == 15_360  # type: ignore[arg-type]
    other = Gpu(model="NVIDIA X1", count=2, vram_gib=10, memory_bandwidth_gbs=100)
    assert usable_vram_mib(other) == pytest.approx(2 * 0.94 * 10 * 1024)


def test_the_curve_is_bandwidth_bound_alone_and_grows_sublinearly() -> None:
    tier = CATALOG.tier("6")
    curve = batch_curve(CATALOG, tier, CATALOG.models[MISTRAL], MISTRAL)
    weights = CATALOG.models[MISTRAL].file_size_mb * 1e6
    # Alone: the weights and one sequence's KV cache at 70% of the A10G's 600 GB/s.
    assert curve.single_tokens_per_s < 600e9 * BANDWIDTH_EFFICIENCY / weights
    assert curve.single_tokens_per_s == pytest.approx(
        600e9 * BANDWIDTH_EFFICIENCY / weights, rel=0.02
    )
    gains = [curve.gain(b) for b in range(1, curve.slots + 1)]
    assert gains == sorted(gains) and gains[0] == 1.0
    assert all(g <= b for b, g in enumerate(gains, start=1))  # never more than linear
    assert curve.gain(1000) == curve.gain(curve.slots)  # no more sequences than slots
    assert "published" in curve.detail and "pull/7676" in curve.detail


def test_a_step_turns_compute_bound_when_the_flops_run_out() -> None:
    tier = CATALOG.tier("6")
    big = tier.model_copy(
        update={"gpu": tier.gpu.model_copy(update={"memory_bandwidth_gbs": 3000})}  # type: ignore[union-attr]
    )
    curve = batch_curve(CATALOG, big, CATALOG.models[MISTRAL], MISTRAL)
    assert curve.compute_bound_from is not None
    b = curve.compute_bound_from
    # Past that batch the aggregate is the FLOP ceiling: flat.
    assert curve.aggregate_tokens_per_s[-1] == pytest.approx(curve.aggregate_tokens_per_s[b - 1])


def test_slots_are_what_vram_holds_and_the_tiers_run_them() -> None:
    assert slots_that_fit(CATALOG, CATALOG.tier("6")) == 12  # two 7-8B models, 4,096 tokens
    assert slots_that_fit(CATALOG, CATALOG.tier("4")) == 5  # the T4's 15,360 MiB
    assert CATALOG.tier("6").parallel_slots == 12
    speed = model_speed(CATALOG, CATALOG.tier("4"), MISTRAL)
    assert speed.slots == min(CATALOG.tier("4").parallel_slots, 5)
    assert speed.source == "published" and speed.gain_source == "published"


def test_a_thousand_requests_a_minute_take_three_to_five_a10g_gpus() -> None:
    args = ["recommend", "--requests-per-minute", "1000", "--max-nodes", "10000", "--json"]
    plan = json.loads(runner.invoke(app, [*args, "--peak-factor", "1"]).output)
    hybrid = plan["hybrid"]
    assert hybrid["tier"] == "6" and 3 <= hybrid["nodes"] <= 5, hybrid["nodes"]
    assert plan["prices_as_of"] == CATALOG.price_snapshot.as_of  # type: ignore[union-attr]
    for m in hybrid["models"]:
        aggregate = m["tokens_per_s"] * m["parallel_gain"]
        # Published llama.cpp/vLLM figures for a 7-8B Q4 model on one A10G-class card at a dozen
        # sequences: roughly 700-1,200 tokens/s.
        assert 700 <= aggregate <= 1200, (m["model"], aggregate)
        assert m["speed_source"] == "published"
    local_per_gpu = 1000 * hybrid["local_share"] / hybrid["nodes"]
    assert 150 <= local_per_gpu <= 350
    # At the default peak of 3x the same prices still answer, from the same curve.
    at_peak = json.loads(runner.invoke(app, args).output)
    assert at_peak["hybrid"]["nodes"] > hybrid["nodes"]
    assert at_peak["verdict"]["answer"] in ("hybrid", "cloud")


def test_recommend_prints_the_price_snapshot_date_beside_the_bill() -> None:
    result = runner.invoke(
        app, ["recommend", "--requests-per-minute", "1000", "--max-nodes", "100"]
    )
    assert result.exit_code == 0, result.output
    assert "server prices as of 2026-12-05" in " ".join(result.output.split())


def test_a_price_snapshot_older_than_90_days_is_flagged() -> None:
    assert price_snapshot_age("2026-12-05", date(2027, 3, 5)) is None  # 90 days
    stale = price_snapshot_age("2026-12-05", date(2027, 3, 6))
    assert stale is not None and "91 days ago" in stale
    assert "unknown age" in (price_snapshot_age(None, date(2026, 12, 5)) or "")


def test_no_shipped_price_cites_a_design_document() -> None:
    for tier in CATALOG.tiers:
        for offer in tier.offers:
            ref = offer.price_source.ref
            for document in (
                "tier selection guide",
                "hardware recommendations",
                "deployment tiers",
            ):
                assert document not in ref.lower(), ref
            assert "http" in ref, ref  # every price names its price list's address


def test_validate_flags_an_old_snapshot_with_its_line_and_a_bad_date_exits_2(
    tmp_path: Path,
) -> None:
    text = (ROOT / "tiers.yaml").read_text()
    assert "\n  as_of: 2026-12-05\n" in text
    old = tmp_path / "old.yaml"
    old.write_text(text.replace("\n  as_of: 2026-12-05\n", "\n  as_of: 2026-06-01\n", 1))
    result = runner.invoke(app, ["validate", "--catalog", str(old)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"{old}:16: price_snapshot.as_of: the offers' prices were recorded on 2026-06-01" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("\n  as_of: 2026-12-05\n", "\n  as_of: 2026-6-1\n", 1))
    result = runner.invoke(app, ["validate", "--catalog", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "price_snapshot.as_of" in result.output and "YYYY-MM-DD" in result.output
