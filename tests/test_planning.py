"""The pure planning core: sizing, capacity, cost and the recommendation, on parametrized tables."""

from __future__ import annotations

import math

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.route_mix import route_mix
from hybridctl.catalog.schema import CostScenario
from hybridctl.catalog.sizing import (
    kv_cache_mib,
    model_memory_mib,
    repacked_mib,
    roofline_tokens_per_s,
    tier_memory_budget,
    weights_mib,
)
from hybridctl.planning.batching import batch_curve
from hybridctl.planning.capacity import (
    model_speed,
    parallel_gain,
    request_seconds,
    tier_load,
)
from hybridctl.planning.cost import cloud_only_spend, monthly_bill, scenario_result
from hybridctl.planning.guide import guide_decision
from hybridctl.planning.options import Beats, Speeds, all_options, cheapest
from hybridctl.planning.recommend import recommend
from hybridctl.planning.results import NoFeasiblePlan
from hybridctl.planning.speed import predict
from hybridctl.planning.workload import Workload

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
    # weights + KV cache + the compute buffer of a 512-token micro-batch (llama.cpp logs 70.50
    # MiB for TinyLlama: 32,000 logits and two 2,048-wide hidden states per token) + process
    assert total == pytest.approx(669e6 / 2**20 + 44 + 70.5 + 96)
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
    [(1, False, 1.0), (4, False, 1.0), (8, False, 1.0), (1, True, 1.0), (4, True, 4**0.9)],
)
def test_parallel_gain(slots: int, gpu: bool, gain: float) -> None:
    assert parallel_gain(slots, gpu) == pytest.approx(gain)


def test_request_seconds_use_the_speed_models_prompt_and_generation_speeds() -> None:
    workload = Workload(requests_per_day=100, prompt_tokens=300, response_tokens=150)
    tier = CATALOG.tier("2")
    speed = model_speed(CATALOG, tier, "tinyllama-1.1b-chat-q4_k_m")
    prediction = predict(CATALOG, "2", "tinyllama-1.1b-chat-q4_k_m")
    assert speed.generation_tokens_per_s == prediction.generation_tokens_per_s
    assert speed.prompt_tokens_per_s == prediction.prompt_tokens_per_s
    whole, prompt = request_seconds(workload, speed)
    assert prompt == pytest.approx(300 / prediction.prompt_tokens_per_s)
    assert whole == pytest.approx(prompt + 150 / prediction.generation_tokens_per_s)


# The catalog as if the thresholds sent exactly their target shares of every kind of traffic.
AT_TARGETS = CATALOG.model_copy(
    update={
        "routing": CATALOG.routing.model_copy(
            update={
                "need_curves": {
                    kind: curve.model_copy(update={"routed_share": {}})
                    for kind, curve in CATALOG.routing.need_curves.items()
                }
            }
        )
    }
)


def test_the_local_share_is_what_the_thresholds_route_of_the_kind_of_traffic() -> None:
    workload = Workload(requests_per_day=100, complex_share=0.3)
    routing = CATALOG.routing
    large = routing.need_shares[routing.default_strategy]["large"]
    for traffic in ("open_requests", "word_problems", "conversations"):
        routed = routing.need_curves[traffic].routed_share[large]
        load = tier_load(
            CATALOG, CATALOG.tier("2"), workload.model_copy(update={"traffic": traffic})
        )
        assert load.local_share == pytest.approx(1 - routed)
    assert tier_load(CATALOG, CATALOG.tier("2"), workload).local_share == pytest.approx(
        1 - routing.need_curves[str(routing.traffic)].routed_share[large]
    )


@pytest.mark.parametrize(
    ("tier_id", "complex_share", "local", "medium", "large"),
    [
        # The router's operating point caps the local share (tiers.yaml routing.need_shares,
        # local_first: 30% past the small model, 5% to the large route). Tier 2 has a complex
        # model, so only the large route's 5% leaves the box; of that 5%, a third need the
        # large route (the strategy's 20% medium + 10% large of the 30% complex).
        ("2", 0.3, 0.95, 0.05 * 2 / 3, 0.05 / 3),
        # With fewer simple requests, its complex model takes complex ones up to the 95%.
        ("2", 0.5, 0.95, 0.05 * 2 / 3, 0.05 / 3),
        # Tier 1 has no complex model: the router's 30% past the small model leave the box.
        ("1", 0.3, 0.7, 0.2, 0.1),
        ("3", 0.3, 0.95, 0.05 * 2 / 3, 0.05 / 3),
        ("4", 0.0, 0.95, 0.05, 0.0),
    ],
)
def test_local_and_cloud_shares(
    tier_id: str, complex_share: float, local: float, medium: float, large: float
) -> None:
    workload = Workload(requests_per_day=100, complex_share=complex_share)
    load = tier_load(AT_TARGETS, AT_TARGETS.tier(tier_id), workload)
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
    # The speed planning uses is the speed model's prediction, with its provenance.
    prediction = predict(CATALOG, tier_id, simple)
    if tier.gpu is None:
        assert paths["simple"].tokens_per_s == prediction.generation_tokens_per_s
        assert paths["simple"].speed.source == prediction.source
    else:  # nothing measured on a GPU: the continuous-batching curve (planning.batching)
        curve = batch_curve(CATALOG, tier, CATALOG.models[simple], simple)
        assert paths["simple"].tokens_per_s == curve.single_tokens_per_s
        assert paths["simple"].speed.source == "published"
    assert (paths["complex"].model if "complex" in paths else None) == complex_
    assert load.serves_complex == (complex_ is not None)


def test_without_its_complex_model_the_tier_sends_complex_requests_to_the_cloud() -> None:
    tier = AT_TARGETS.tier("3")
    workload = Workload(requests_per_day=10, complex_share=0.3)
    served = tier_load(AT_TARGETS, tier, workload)  # Mistral takes complex ones up to 95% local
    skipped = tier_load(AT_TARGETS, tier, workload, serve_complex=False)
    assert served.large_share == pytest.approx(0.05 / 3) and served.serves_complex
    assert skipped.large_share == pytest.approx(0.1) and not skipped.serves_complex
    assert skipped.medium_share == pytest.approx(0.2)
    assert [p.kind for p in skipped.paths] == ["simple"]


def test_quality_keeps_complex_requests_off_small_models() -> None:
    """The guide's "better quality answers?": complex requests stay local only on 7B+ models."""
    workload = Workload(requests_per_day=10, complex_share=0.5)
    picky = workload.model_copy(update={"quality": True})
    tier2, tier3 = CATALOG.tier("2"), CATALOG.tier("3")
    assert tier_load(CATALOG, tier2, workload).serves_complex  # Qwen2.5 1.5B
    assert not tier_load(CATALOG, tier2, picky).serves_complex
    assert tier_load(CATALOG, tier3, picky).serves_complex  # Mistral 7B
    local_picky = picky.model_copy(update={"local_only": True})
    (problem,) = tier_load(CATALOG, tier2, local_picky).problems
    assert "--quality needs a 7B+ model" in problem and "1.54B" in problem


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
    # The first token waits for the prompt only, never longer than the whole answer.
    assert 0 < light.worst_first_token_s < light.worst_p95_s


def test_monthly_bill_prices_the_spill_and_cloud_only_with_the_route_mixes() -> None:
    workload = Workload(requests_per_day=1000)  # 10% need the large route
    bill = monthly_bill(CATALOG, workload, server_usd=30, medium_share=0.2, large_share=0.1)
    medium = route_mix(CATALOG, "medium", 200).request_usd(300, 150)
    large = route_mix(CATALOG, "large", 100).request_usd(300, 150)
    assert bill.cloud_spill_usd == pytest.approx(30_000 * (0.2 * medium + 0.1 * large))
    cloud_medium = route_mix(CATALOG, "medium", 900).request_usd(300, 150)
    assert bill.cloud_only_usd == pytest.approx(30_000 * (0.9 * cloud_medium + 0.1 * large))
    # Serving simple requests saves almost nothing (the medium route is nearly free): a $30 box
    # that takes only those pays from over twenty times this volume.
    assert bill.hybrid_usd > bill.cloud_only_usd
    assert bill.break_even_requests_per_day is not None
    assert bill.break_even_requests_per_day > 20 * workload.requests_per_day
    # A box that takes the large-route requests too does pay, from its break-even volume on.
    saving = monthly_bill(CATALOG, workload, server_usd=30, medium_share=0.0, large_share=0.0)
    even = saving.break_even_requests_per_day
    assert even is not None
    at_even = monthly_bill(CATALOG, workload.at_volume(even), 30, 0.0, 0.0)
    assert at_even.hybrid_usd == pytest.approx(at_even.cloud_only_usd, rel=0.02)


@pytest.mark.parametrize(
    ("requests_per_day", "flags", "guide"),
    [
        (20, {}, "2"),
        (20, {"learning": True}, "1"),
        (20, {"quality": True}, "3"),
        (20, {"quality": True, "sub_second": True}, "4"),
        (20, {"sub_second": True}, "2"),  # the tree asks about speed only from Tier 3
        (50, {}, "2"),
        (500, {"quality": True}, "3"),
        (501, {}, "3"),
        (5000, {"sub_second": True}, "4"),
        (5000, {"learning": True}, "3"),  # "just learning?" is asked under 50 a day only
        (5001, {}, "4"),
    ],
)
def test_guide_decision_tree_with_its_questions(
    requests_per_day: float, flags: dict[str, bool], guide: str
) -> None:
    assert guide_decision(requests_per_day, **flags)[0] == guide


def test_the_tree_questions_reach_the_comparison() -> None:
    plain = recommend(CATALOG, Workload(requests_per_day=30))
    learning = recommend(CATALOG, Workload(requests_per_day=30, learning=True))
    assert plain.guide_tier == "2" and learning.guide_tier == "1"
    assert "just learning" in learning.guide_note and "Tier 1" in learning.guide_note


def test_sub_second_needs_a_first_token_within_a_second() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=300, sub_second=True))
    # A GPU tier or the 16-vCPU scale-out node (Tier 5); none of the small CPU boxes.
    assert result.hybrid is not None and result.hybrid.tier in ("4", "5", "6")
    assert result.hybrid.first_token_p95_s <= 1.0
    cpu = [c for c in result.considered if c.tier in ("1", "2", "3") and c.provider == "hetzner"]
    assert cpu and not any(c.feasible for c in cpu)
    assert any("first token" in c.reason and "(--sub-second)" in c.reason for c in cpu)


# --- verdicts -------------------------------------------------------------------------------


def test_a_thousand_requests_a_month_says_stay_on_the_cloud() -> None:
    """The tier guide's own Tier 1 scenario (1,000 requests a month) loses money on a box."""
    result = recommend(CATALOG, Workload(requests_per_day=1000 / 30))
    v = result.verdict
    assert v.answer == "cloud"
    assert v.headline.startswith("Stay on the cloud: at 33 requests/day")
    assert v.hybrid_usd is not None and v.hybrid_usd > v.cloud_only_usd
    assert result.cloud_only.monthly_usd == pytest.approx(v.cloud_only_usd)
    assert result.cloud_only.monthly_usd < 1  # a thousand requests cost under a dollar


def test_the_volume_from_which_a_box_pays_is_where_it_does() -> None:
    # Half the requests need the large route, with long answers: a box pays from some volume.
    # At 10 a day the whole cloud bill is under the cheapest server's price.
    shape = Workload(requests_per_day=10, complex_share=0.6, large_share=0.5, response_tokens=500)
    result = recommend(CATALOG, shape)
    v = result.verdict
    assert v.answer == "cloud" and v.cloud_only_usd < 5
    assert v.hybrid_pays_from_requests_per_day is not None and v.pays_from_option
    volume = v.hybrid_pays_from_requests_per_day
    assert volume > shape.requests_per_day
    assert f"A box starts paying from about {volume:,.0f} requests/day" in v.headline
    # At that volume (no node ceiling) the answer turns; a little below it, it does not.
    lifted = shape.model_copy(update={"max_nodes": 10_000})
    there = recommend(CATALOG, lifted.at_volume(volume))
    below = recommend(CATALOG, lifted.at_volume(volume * 0.99))
    assert there.verdict.answer == "hybrid"
    assert v.pays_from_option in there.verdict.headline
    assert below.verdict.answer == "cloud"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"complex_share": 0.6, "large_share": 0.5, "response_tokens": 500},
        {"cloud_baseline": "large", "quality": True},
        {"sub_second": True, "providers": ("aws", "gcp")},
        {"local_only": True, "peak_factor": 8, "p95_latency_s": 5},
        {"complex_share": 0.0, "prompt_tokens": 4000, "monthly_budget_usd": 1000.0},
    ],
)
@pytest.mark.parametrize("max_nodes", [1, 4, 10_000])
def test_the_quick_check_answers_as_pricing_every_option_does(
    fields: dict[str, object], max_nodes: int
) -> None:
    """pays_from scans volumes with Beats, which skips tiers that cannot undercut the price:
    at every volume and price it must give the answer the fully priced options give."""
    shape = Workload.model_validate({"requests_per_day": 7.0, "max_nodes": max_nodes, **fields})
    speeds = Speeds(CATALOG)
    beats = Beats(CATALOG, shape, speeds)
    answers = set()
    for volume in (7.0, 90.0, 1234.5, 30_000.0, 600_000.0, 9e6, 1e8):
        there = shape.at_volume(volume)
        best = cheapest(all_options(CATALOG, there, speeds), CATALOG)
        cloud = cloud_only_spend(CATALOG, there).monthly_usd
        prices = [cloud, cloud * 3, 50.0, 5_000.0]
        if best is not None:  # just above, at and just below the cheapest box's own bill
            prices += [
                best.bill.hybrid_usd * (1 + 1e-12),
                best.bill.hybrid_usd,
                best.bill.hybrid_usd * 0.999,
            ]
        for price in prices:
            expected = best is not None and best.bill.hybrid_usd < price
            assert beats(volume, price) == expected, (volume, price)
            answers.add(expected)
    assert answers == {True, False}  # both answers occur: the check is not vacuous


def test_when_a_box_pays_it_says_so_first() -> None:
    shape = Workload(
        requests_per_day=20000,
        complex_share=0.6,
        large_share=0.5,
        response_tokens=500,
        max_nodes=100,
        p95_latency_s=60,
    )
    result = recommend(CATALOG, shape)
    v, h = result.verdict, result.hybrid
    assert v.answer == "hybrid" and h is not None
    assert v.headline.startswith("A box pays:")
    assert h.hybrid_usd < result.cloud_only.monthly_usd
    assert h.hybrid_usd == pytest.approx(h.server_usd + h.spill.monthly_usd)
    assert h.savings_usd == pytest.approx(result.cloud_only.monthly_usd - h.hybrid_usd)


def test_thousand_a_minute_gets_a_priced_answer_and_the_ceiling_hint_is_true() -> None:
    """1,000 requests a minute: the cheapest configuration, or the cloud with its bill."""
    per_minute = Workload(requests_per_day=1000 * 1440)
    capped = recommend(CATALOG, per_minute)
    assert capped.hybrid is None  # no single box carries 17 requests a second
    assert capped.verdict.answer == "cloud" and capped.verdict.cloud_only_usd > 0
    hint = capped.verdict.beyond_ceiling
    assert hint is not None and "--max-nodes" in hint
    nodes = int(hint.rsplit("--max-nodes ", 1)[1].split()[0])
    # Following the hint gives exactly that configuration, at the price the hint names.
    lifted = recommend(CATALOG, per_minute.model_copy(update={"max_nodes": nodes}))
    assert lifted.hybrid is not None and lifted.hybrid.nodes == nodes
    assert f"${lifted.hybrid.hybrid_usd:,.2f}/month" in hint
    assert f"x {nodes}" in hint and lifted.hybrid.tier in hint


def test_hardware_guide_cloud_estimate_matches_ours_on_the_cheap_routes() -> None:
    """Seed 003 prices the cloud API at $1,500-6,000 a month for 1,000 requests a minute on
    the cheap models (Gemini, GPT-4-turbo at $0.01/1K): with no large-route requests our medium
    mix lands inside that range."""
    cheap = Workload(requests_per_day=1000 * 1440, large_share=0.0)
    bill = recommend(CATALOG, cheap).cloud_only.monthly_usd
    assert 1500 <= bill <= 6000


def test_nothing_answers_only_when_the_cloud_is_ruled_out() -> None:
    with pytest.raises(NoFeasiblePlan) as caught:
        recommend(CATALOG, Workload(requests_per_day=300, monthly_budget_usd=1))
    considered = caught.value.recommendation.considered
    assert all(not c.feasible for c in considered)
    assert any(c.reason.startswith("budget") for c in considered)
    assert "cloud alone costs" in caught.value.why
    # An impossible latency target leaves the cloud as the answer.
    result = recommend(CATALOG, Workload(requests_per_day=300, p95_latency_s=0.5))
    assert result.hybrid is None and result.verdict.answer == "cloud"
    assert any(c.reason.startswith("latency") for c in result.considered)
    with pytest.raises(NoFeasiblePlan) as caught:
        recommend(CATALOG, Workload(requests_per_day=300, p95_latency_s=0.5, local_only=True))
    verdict = caught.value.recommendation.verdict
    assert verdict.answer == "none" and verdict.headline.startswith("Nothing answers")


def test_local_only_needs_a_model_for_complex_requests() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=200, local_only=True))
    assert result.hybrid is not None and result.hybrid.local_share == pytest.approx(1)
    assert result.hybrid.spill.monthly_usd == 0
    assert result.verdict.answer == "hybrid"
    assert "--local-only rules them out" in result.verdict.headline
    tier1 = next(c for c in result.considered if c.tier == "1" and c.provider == "hetzner")
    assert not tier1.feasible and "local-only needs a complex-role model" in tier1.reason


def test_every_offer_is_accounted_for_with_a_reason() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=300))
    offers = sum(len(t.offers) + len(t.unavailable) for t in CATALOG.tiers)
    assert len(result.considered) == offers
    assert all(c.reason for c in result.considered)
    chosen = [c for c in result.considered if c.reason.startswith("chosen")]
    assert len(chosen) == 1 and result.hybrid is not None
    assert chosen[0].hybrid_usd == pytest.approx(result.hybrid.hybrid_usd)
    feasible = [c.hybrid_usd for c in result.considered if c.feasible and c.hybrid_usd]
    assert min(feasible) == pytest.approx(result.hybrid.hybrid_usd)


@pytest.mark.parametrize(
    "fields",
    [
        {"requests_per_day": 1e30},
        {"requests_per_day": 100, "prompt_tokens": 10**9},
        {"requests_per_day": 100, "peak_factor": 1e6},
        {"requests_per_day": 100, "max_nodes": 10**9},
        {"requests_per_day": 100, "complex_share": 0.2, "large_share": 0.3},
    ],
)
def test_workloads_stay_within_real_ranges(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Workload.model_validate(fields)


def test_weight_repacking_counts_a_second_copy_and_can_break_the_fit() -> None:
    model = CATALOG.models["mistral-7b-instruct-v0.2-q4_k_m"]
    plain = model_memory_mib(model, 2048, 2, 96)
    repacked = model_memory_mib(model, 2048, 2, 96, repacked=True)
    assert repacked - plain == pytest.approx(repacked_mib(model)) and repacked_mib(model) > 0
    tier3 = CATALOG.tier("3")
    assert tier_memory_budget(CATALOG, tier3).fits
    roomy = tier3.model_copy(update={"weight_repacking": True})
    assert not tier_memory_budget(CATALOG, roomy).fits
