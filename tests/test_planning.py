"""The pure planning core: sizing, capacity, cost and the recommendation, on parametrized tables."""

from __future__ import annotations

import math

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import CostScenario
from hybridctl.planning.capacity import (
    parallel_gain,
    request_seconds,
    tier_load,
)
from hybridctl.planning.cost import monthly_bill, request_cost_usd, scenario_result
from hybridctl.planning.recommend import NoFeasibleTier, guide_decision, recommend
from hybridctl.planning.workload import Workload
from hybridctl.sizing import (
    kv_cache_mib,
    model_memory_mib,
    roofline_tokens_per_s,
    tier_memory_budget,
    weights_mib,
)

CATALOG = load_catalog()


# The tier guide's Cost-Benefit Analysis, figure for figure (000).
@pytest.mark.parametrize(
    ("tier", "cloud_only", "hybrid", "savings", "savings_pct", "roi"),
    [
        ("1", 84, 86, -2, None, None),
        ("2", 660, 502, 158, 24, 3.0),
        ("3", 3900, 3120, 780, 20, 6.5),
        ("4", 10800, 6310, 4490, 42, 14.5),
    ],
)
def test_cost_scenarios_reproduce_the_tier_guide(
    tier: str, cloud_only: float, hybrid: float, savings: float, savings_pct, roi
) -> None:
    scenario = next(s for s in CATALOG.cost_scenarios if s.tier == tier)
    result = scenario_result(scenario)
    assert result.cloud_only_usd == pytest.approx(cloud_only)
    assert result.hybrid_usd == pytest.approx(hybrid)
    assert result.savings_usd == pytest.approx(savings)
    if savings_pct is not None:
        assert round(result.savings_pct) == savings_pct
        assert round(result.roi_x, 1) == roi
    # The catalog's recorded expectations agree with the recomputation too.
    for key, value in scenario.expected.items():
        assert round(getattr(result, key), 1) == pytest.approx(value, abs=0.5), key


def test_scenario_overrides_change_the_arithmetic() -> None:
    scenario: CostScenario = next(s for s in CATALOG.cost_scenarios if s.tier == "2")
    doubled = scenario_result(scenario, requests_per_month=20_000)
    assert doubled.cloud_only_usd == pytest.approx(1320)
    assert doubled.hybrid_usd == pytest.approx(52 + 900)
    cheaper_box = scenario_result(scenario, server_usd=6)
    assert cheaper_box.savings_usd == pytest.approx(204)


@pytest.mark.parametrize(
    ("model", "context", "slots", "expected_kv_mib"),
    [
        # TinyLlama: 22 layers, 4 KV heads of 64 = 256 values per token per layer, f16.
        ("tinyllama-1.1b-chat-q4_k_m", 2048, 1, 2 * 22 * 2048 * 256 * 2 / 2**20),
        ("tinyllama-1.1b-chat-q4_k_m", 2048, 2, 2 * 22 * 4096 * 256 * 2 / 2**20),
        # Mistral 7B: 32 layers, 8 KV heads of 128.
        ("mistral-7b-instruct-v0.2-q4_k_m", 4096, 1, 2 * 32 * 4096 * 1024 * 2 / 2**20),
        # Phi-2 has no grouped-query attention: 32 KV heads of 80.
        ("phi-2-q4_k_m", 2048, 1, 2 * 32 * 2048 * 2560 * 2 / 2**20),
    ],
)
def test_kv_cache(model: str, context: int, slots: int, expected_kv_mib: float) -> None:
    arch = CATALOG.models[model].architecture
    assert kv_cache_mib(arch, context, slots) == pytest.approx(expected_kv_mib)


def test_model_memory_is_weights_plus_kv_plus_overhead() -> None:
    model = CATALOG.models["tinyllama-1.1b-chat-q4_k_m"]
    total = model_memory_mib(model, 2048, 1, 96)
    assert total == pytest.approx(669e6 / 2**20 + 44 + 96)
    assert weights_mib(model) == pytest.approx(638.0, abs=0.1)


@pytest.mark.parametrize(
    ("model", "bandwidth", "expected"),
    [
        ("tinyllama-1.1b-chat-q4_k_m", 25, 25e9 / 669e6),
        ("mistral-7b-instruct-v0.2-q4_k_m", 320, 320e9 / 4370e6),
    ],
)
def test_roofline(model: str, bandwidth: float, expected: float) -> None:
    assert roofline_tokens_per_s(CATALOG.models[model], bandwidth) == pytest.approx(expected)


@pytest.mark.parametrize("tier_id", ["1", "2", "2.5", "3", "4"])
def test_every_shipped_tier_fits_its_models(tier_id: str) -> None:
    budget = tier_memory_budget(CATALOG, CATALOG.tier(tier_id))
    assert budget.fits
    assert budget.free_mib >= 0


@pytest.mark.parametrize(
    ("slots", "gpu", "gain"),
    [(1, False, 1.0), (4, False, 2.0), (2, False, math.sqrt(2)), (1, True, 1.0)],
)
def test_parallel_gain(slots: int, gpu: bool, gain: float) -> None:
    assert parallel_gain(slots, gpu) == pytest.approx(gain)


def test_request_seconds_counts_prompt_and_generation() -> None:
    workload = Workload(requests_per_day=100, prompt_tokens=300, response_tokens=150)
    assert request_seconds(workload, 15, 3) == pytest.approx(300 / 45 + 10)


@pytest.mark.parametrize(
    ("tier_id", "complex_share", "local", "medium", "large"),
    [
        # Tier 2's simple requests alone fill its promised 70% local share: complex ones go to
        # the large cloud route although it has a complex model (Qwen2.5 1.5B).
        ("2", 0.3, 0.7, 0.0, 0.3),
        # With fewer simple requests, its complex model takes complex ones up to the 70%.
        ("2", 0.5, 0.7, 0.0, 0.3),
        # Tier 1 serves at most its promised 35% locally; the other simple ones go to medium.
        ("1", 0.3, 0.35, 0.35, 0.3),
        # Tier 3 has Mistral 7B: some complex requests stay, up to the tier's 80% local share.
        ("3", 0.3, 0.8, 0.0, 0.2),
        ("4", 0.0, 0.9, 0.1, 0.0),
    ],
)
def test_local_and_cloud_shares(
    tier_id: str, complex_share: float, local: float, medium: float, large: float
) -> None:
    workload = Workload(requests_per_day=100, complex_share=complex_share)
    load = tier_load(CATALOG, CATALOG.tier(tier_id), workload)
    assert load.local_share == pytest.approx(local)
    assert load.medium_share == pytest.approx(medium)
    assert load.large_share == pytest.approx(large)
    assert load.local_share + load.medium_share + load.large_share == pytest.approx(1)


@pytest.mark.parametrize(
    ("tier_id", "simple", "complex_"),
    [
        ("1", "tinyllama-1.1b-chat-q4_k_m", None),
        ("2", "tinyllama-1.1b-chat-q4_k_m", "qwen2.5-1.5b-instruct-q4_k_m"),
        ("2.5", "tinyllama-1.1b-chat-q4_k_m", "llama3-8b-1.58-tq2_0"),
        ("3", "tinyllama-1.1b-chat-q4_k_m", "mistral-7b-instruct-v0.2-q4_k_m"),
        # Tier 4's simple model is Mistral 7B: the catalog's role, not the smaller model.
        ("4", "mistral-7b-instruct-v0.2-q4_k_m", "llama-3-8b-instruct-q4_k_m"),
    ],
)
def test_each_kind_of_request_goes_to_the_model_of_that_role(
    tier_id: str, simple: str, complex_: str | None
) -> None:
    tier = CATALOG.tier(tier_id)
    roles = local_roles(tier)
    assert roles.simple.model == simple
    assert (roles.complex.model if roles.complex else None) == complex_
    load = tier_load(CATALOG, tier, Workload(requests_per_day=10, complex_share=0.5))
    paths = {p.kind: p for p in load.paths}
    assert paths["simple"].model == simple
    assert paths["simple"].tokens_per_s == roles.simple.promised_tokens_per_s
    assert (paths["complex"].model if "complex" in paths else None) == complex_
    assert load.serves_complex == (complex_ is not None)


def test_without_its_complex_model_the_tier_sends_complex_requests_to_the_cloud() -> None:
    tier = CATALOG.tier("3")
    workload = Workload(requests_per_day=10, complex_share=0.3)
    served = tier_load(CATALOG, tier, workload)  # Mistral takes complex ones up to 80% local
    skipped = tier_load(CATALOG, tier, workload, serve_complex=False)
    assert served.large_share == pytest.approx(0.2) and served.serves_complex
    assert skipped.large_share == pytest.approx(0.3) and not skipped.serves_complex
    assert [p.kind for p in skipped.paths] == ["simple"]


def test_local_only_without_a_complex_model_uses_the_simple_one_and_says_so() -> None:
    tier = CATALOG.tier("1")
    load = tier_load(CATALOG, tier, Workload(requests_per_day=10, local_only=True))
    assert load.local_share == pytest.approx(1) and load.large_share == 0
    assert {p.kind: p.model for p in load.paths} == {
        "simple": "tinyllama-1.1b-chat-q4_k_m",
        "complex": "tinyllama-1.1b-chat-q4_k_m",
    }
    (problem,) = load.problems
    assert "local-only needs a complex-role model for the 30% complex requests" in problem
    assert "tinyllama-1.1b-chat-q4_k_m (role: simple)" in problem


def test_load_grows_with_traffic_and_nodes_share_it() -> None:
    tier = CATALOG.tier("2")
    light = tier_load(CATALOG, tier, Workload(requests_per_day=100))
    heavy = tier_load(CATALOG, tier, Workload(requests_per_day=5000))
    split = tier_load(CATALOG, tier, Workload(requests_per_day=5000), nodes=4)
    assert light.utilization < heavy.utilization
    assert split.utilization == pytest.approx(heavy.utilization / 4)
    assert light.worst_p95_s < heavy.worst_p95_s or math.isinf(heavy.worst_p95_s)


def test_monthly_bill_and_break_even() -> None:
    workload = Workload(requests_per_day=1000)
    bill = monthly_bill(CATALOG, workload, server_usd=30, medium_share=0.0, large_share=0.3)
    gpt4o = request_cost_usd(CATALOG.cloud_models["gpt-4o"], 300, 150)
    assert bill.cloud_only_usd == pytest.approx(30_000 * gpt4o)
    assert bill.cloud_spill_usd == pytest.approx(30_000 * 0.3 * gpt4o)
    # At break-even volume the two bills are equal.
    at_break_even = Workload(requests_per_day=bill.break_even_requests_per_day)
    even = monthly_bill(CATALOG, at_break_even, server_usd=30, medium_share=0, large_share=0.3)
    assert even.hybrid_usd == pytest.approx(even.cloud_only_usd)


@pytest.mark.parametrize(
    ("requests_per_day", "guide"),
    [(20, "2"), (50, "2"), (500, "2"), (501, "3"), (5000, "3"), (5001, "4")],
)
def test_guide_decision_tree(requests_per_day: float, guide: str) -> None:
    assert guide_decision(requests_per_day)[0] == guide


@pytest.mark.parametrize(
    ("workload", "tier", "provider", "nodes"),
    [
        (Workload(requests_per_day=300), "2", "hetzner", 1),
        (Workload(requests_per_day=1000), "3", "hetzner", 1),
        (Workload(requests_per_day=5000), "4", "gcp", 1),
        (Workload(requests_per_day=20000, max_nodes=8), "4", "gcp", 2),
        (Workload(requests_per_day=300, providers=("aws",)), "2", "aws", 1),
    ],
)
def test_recommend_picks_the_cheapest_that_carries_it(
    workload: Workload, tier: str, provider: str, nodes: int
) -> None:
    result = recommend(CATALOG, workload)
    assert (result.tier, result.provider, result.nodes) == (tier, provider, nodes)
    feasible = [c for c in result.considered if c.feasible]
    assert min(c.hybrid_usd for c in feasible) == pytest.approx(result.hybrid_usd)
    assert result.p95_latency_s <= workload.p95_latency_s
    assert result.utilization <= 0.8
    # Every offer of every tier is accounted for, each with a reason.
    offers = sum(len(t.offers) + len(t.unavailable) for t in CATALOG.tiers)
    assert len(result.considered) == offers
    assert all(c.reason for c in result.considered)


def test_recommend_explains_a_disagreement_with_the_guide() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=5000))
    assert result.guide_tier == "3"
    assert "does not carry this workload" in result.guide_note


def test_budget_and_latency_reject() -> None:
    with pytest.raises(NoFeasibleTier) as caught:
        recommend(CATALOG, Workload(requests_per_day=300, monthly_budget_usd=1))
    assert all(not c.feasible for c in caught.value.considered)
    assert any(c.reason.startswith("budget") for c in caught.value.considered)
    with pytest.raises(NoFeasibleTier) as caught:
        recommend(CATALOG, Workload(requests_per_day=300, p95_latency_s=0.5))
    assert any(c.reason.startswith("latency") for c in caught.value.considered)


def test_local_only_needs_a_model_for_complex_requests() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=200, local_only=True))
    assert result.local_share == pytest.approx(1)
    assert result.cloud_spill_usd == 0
    tier1 = next(c for c in result.considered if c.tier == "1" and c.provider == "hetzner")
    assert not tier1.feasible and "local-only needs a complex-role model" in tier1.reason


def test_weight_repacking_counts_a_second_copy_and_can_break_the_fit() -> None:
    model = CATALOG.models["mistral-7b-instruct-v0.2-q4_k_m"]
    plain = model_memory_mib(model, 2048, 2, 96)
    repacked = model_memory_mib(model, 2048, 2, 96, repacked=True)
    assert repacked - plain == pytest.approx(weights_mib(model))
    tier3 = CATALOG.tier("3")
    assert tier_memory_budget(CATALOG, tier3).fits
    roomy = tier3.model_copy(update={"weight_repacking": True})
    assert not tier_memory_budget(CATALOG, roomy).fits
