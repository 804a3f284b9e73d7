"""Router config rendering and the hybrid routing policy (scoring, route choice) of the hook."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.errors import InputError
from hybridctl.paths import templates_dir
from hybridctl.planning.capacity import tier_load
from hybridctl.planning.workload import Workload
from hybridctl.render.router import (
    COMPLEXITY_FEATURES,
    ROUTER_FILES,
    build_router_context,
    point_routes_at,
    render_router,
)
from tests.router_fixtures import import_hook, rendered_router

SIMPLE_2 = "tinyllama-1.1b-chat-q4_k_m"  # tier 2's simple model
COMPLEX_2 = "qwen2.5-1.5b-instruct-q4_k_m"  # and its complex one


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rendered_router(tmp_path_factory.mktemp("router"), tier="2")


@pytest.fixture(scope="module")
def hook(router_dir: Path) -> ModuleType:
    return import_hook(router_dir)


@pytest.fixture(scope="module")
def policy(router_dir: Path) -> dict:
    return json.loads((router_dir / "hybrid_policy.json").read_text())


# --- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize("tier_id", load_catalog().tier_ids)
def test_every_tier_renders_a_parseable_config_without_secret_values(tier_id: str) -> None:
    files = render_router(build_router_context(load_catalog(), tier_id, "hetzner"))
    assert sorted(files) == sorted(ROUTER_FILES)
    config = yaml.safe_load(files["litellm_config.yaml"])
    json.loads(files["hybrid_policy.json"])
    compile(files["hybrid_router.py"], "hybrid_router.py", "exec")

    names = {m["model_name"] for m in config["model_list"]}
    assert {"local", "medium", "large"} <= names
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        if entry["model_info"]["route"] == "local":
            assert params["api_base"] == "http://llm:8080/v1"
            assert params["api_key"] == "no-key-needed"
        else:
            assert params["api_key"].startswith("os.environ/"), params
            assert params["api_key"].endswith("_API_KEY")
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    cache = config["litellm_settings"]["cache_params"]
    if cache["type"] == "redis":
        assert cache["password"] == "os.environ/REDIS_PASSWORD"
    assert "hybrid_router.proxy_handler_instance" in config["litellm_settings"]["callbacks"]


@pytest.mark.parametrize("tier_id", load_catalog().tier_ids)
def test_local_route_is_the_simple_model_and_each_model_has_its_own_name(tier_id: str) -> None:
    catalog = load_catalog()
    tier = catalog.tier(tier_id)
    roles = local_roles(tier)
    files = render_router(build_router_context(catalog, tier, "hetzner"))
    config = yaml.safe_load(files["litellm_config.yaml"])
    by_name = {m["model_name"]: m["litellm_params"]["model"] for m in config["model_list"]}
    assert by_name["local"] == f"openai/{roles.simple.model}"
    for entry in tier.models:
        assert by_name[entry.model] == f"openai/{entry.model}"
    assert json.loads(files["hybrid_policy.json"])["local_models"] == {
        "simple": roles.simple.model,
        "complex": roles.complex.model if roles.complex else None,
    }


def test_local_route_follows_the_role_not_the_order_of_the_models() -> None:
    catalog = load_catalog()
    tier = catalog.tier("2")
    swapped = tier.model_copy(update={"models": list(reversed(tier.models))})
    ctx = build_router_context(catalog, swapped, "hetzner")
    local = next(d for d in ctx.deployments if d.model_name == "local")
    assert local.litellm_model == f"openai/{SIMPLE_2}"
    assert ctx.policy["local_models"] == {"simple": SIMPLE_2, "complex": COMPLEX_2}
    assert (ctx.simple_model, ctx.complex_model) == (SIMPLE_2, COMPLEX_2)


@pytest.mark.parametrize("tier_id", load_catalog().tier_ids)
def test_the_plan_and_the_router_name_the_same_local_models(tier_id: str) -> None:
    """What `recommend` sizes is what the rendered router sends each kind of request to."""
    catalog = load_catalog()
    tier = catalog.tier(tier_id)
    policy = build_router_context(catalog, tier, "hetzner").policy
    load = tier_load(catalog, tier, Workload(requests_per_day=10, complex_share=0.5))
    planned = {p.kind: p.model for p in load.paths}
    assert planned["simple"] == policy["local_models"]["simple"]
    assert planned.get("complex") == policy["local_models"]["complex"]


def test_config_carries_the_fallback_chain_and_the_auto_model_alias(router_dir: Path) -> None:
    config = yaml.safe_load((router_dir / "litellm_config.yaml").read_text())
    settings = config["router_settings"]
    expected = [{"local": ["medium", "large"]}, {"medium": ["large"]}]
    assert settings["fallbacks"] == expected
    assert settings["context_window_fallbacks"] == expected
    assert settings["model_group_alias"] == {"hybrid": "local"}
    assert settings["routing_strategy"] == "simple-shuffle"  # catalog default: local_first
    assert "prometheus" in config["litellm_settings"]["callbacks"]


def test_tier_without_redis_keeps_cache_and_spend_in_process() -> None:
    catalog = load_catalog()
    tier = next(t for t in catalog.tiers if "redis" not in t.services)
    files = render_router(build_router_context(catalog, tier, "hetzner"))
    config = yaml.safe_load(files["litellm_config.yaml"])
    assert config["litellm_settings"]["cache_params"] == {"type": "local", "ttl": 3600}
    assert json.loads(files["hybrid_policy.json"])["spend_store"] is None
    if "prometheus" not in tier.services:
        assert "prometheus" not in config["litellm_settings"]["callbacks"]


def test_rendering_is_deterministic() -> None:
    ctx = build_router_context(load_catalog(), "2.5", "aws")
    assert render_router(ctx) == render_router(ctx)


def test_policy_file_carries_the_catalog_numbers(policy: dict) -> None:
    routing = load_catalog().routing
    assert policy["complexity"]["weights"] == routing.complexity.weights
    assert policy["complexity"]["local_below"] == routing.complexity.local_below
    assert policy["complexity"]["medium_below"] == routing.complexity.medium_below
    assert policy["daily_cloud_budget_usd"] == routing.daily_cloud_budget_usd
    assert policy["default_strategy"] == routing.default_strategy
    assert policy["user_tiers"]["free"]["routes"] == ["local", "medium"]
    assert policy["route_prices"]["local"] == {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0}
    assert (
        policy["route_prices"]["medium"]["input_usd_per_mtok"]
        < (policy["route_prices"]["large"]["input_usd_per_mtok"])
    )


def test_hook_template_is_plain_python_and_knows_every_catalog_factor(
    router_dir: Path, hook: ModuleType
) -> None:
    source = (templates_dir() / "router" / "hybrid_router.py.j2").read_text()
    assert (router_dir / "hybrid_router.py").read_text() == source  # no Jinja markup inside
    assert tuple(hook.FEATURES) == COMPLEXITY_FEATURES


def test_unknown_complexity_factor_is_a_clear_error() -> None:
    catalog = load_catalog()
    complexity = catalog.routing.complexity
    weights = {**complexity.weights, "vibes": 1.0}
    routing = catalog.routing.model_copy(
        update={"complexity": complexity.model_copy(update={"weights": weights})}
    )
    broken = catalog.model_copy(update={"routing": routing})
    with pytest.raises(InputError, match="vibes") as info:
        build_router_context(broken, "2", "hetzner")
    assert "multi_turn" in (info.value.hint or "")


def test_unknown_cloud_model_in_a_route_is_a_clear_error() -> None:
    catalog = load_catalog()
    routes = {**catalog.routing.routes, "large": ["gpt-9"]}
    broken = catalog.model_copy(
        update={"routing": catalog.routing.model_copy(update={"routes": routes})}
    )
    with pytest.raises(InputError, match="gpt-9"):
        build_router_context(broken, "2", "hetzner")


def test_point_routes_at_keeps_key_references_and_prices() -> None:
    ctx = build_router_context(load_catalog(), "2", "hetzner")
    bases = {
        r: f"http://127.0.0.1:{9000 + i}/v1" for i, r in enumerate(("local", "medium", "large"))
    }
    moved = point_routes_at(ctx, bases, budget_usd=0.5, redis=False)
    by_route = {d.model_name: d for d in moved.deployments if d.model_name in bases}
    assert len([d for d in moved.deployments if d.model_name in bases]) == 3
    assert {r: d.api_base for r, d in by_route.items()} == bases
    assert by_route["large"].api_key_env == "OPENAI_API_KEY"
    assert by_route["medium"].api_key_env == "GROQ_API_KEY"
    assert by_route["large"].input_cost_per_token == pytest.approx(
        ctx.policy["route_prices"]["large"]["input_usd_per_mtok"] / 1e6
    )
    assert moved.policy["daily_cloud_budget_usd"] == 0.5
    assert moved.policy["spend_store"] is None and moved.cache == "local"
    assert ctx.policy["daily_cloud_budget_usd"] == 50  # the original is untouched


def test_point_routes_at_moves_a_local_model_by_its_name() -> None:
    ctx = build_router_context(load_catalog(), "2", "hetzner")
    moved = point_routes_at(ctx, {COMPLEX_2: "http://127.0.0.1:9100/v1"}, redis=False)
    (qwen,) = [d for d in moved.deployments if d.model_name == COMPLEX_2]
    assert qwen.api_base == "http://127.0.0.1:9100/v1"
    assert qwen.route == "local" and qwen.api_key_env is None
    assert qwen.input_cost_per_token == qwen.output_cost_per_token == 0
    # Everything else stays as rendered, the `local` route (the simple model) included.
    local = next(d for d in moved.deployments if d.model_name == "local")
    assert local.api_base == "http://llm:8080/v1"
    assert local.litellm_model == f"openai/{SIMPLE_2}"


# --- complexity scoring ----------------------------------------------------------------------

LONG = "Our churn rose from 3% to 7% after the pricing change in March. " * 9


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


SCORING = [
    ("faq", [_user("What are your opening hours?")], {"is_faq", "is_simple"}, 0),
    ("creative", [_user("Write a poem about the sea")], {"requires_creativity"}, 2),
    (
        "multi-turn chat",
        [_user("Hi"), _assistant("Hello!"), _user("Tell me more about that")],
        {"multi_turn"},
        3,
    ),
    (
        "multi-turn analysis",
        [_user("Compare plan A and plan B"), _assistant("Sure."), _user("Evaluate both.")],
        {"multi_turn", "requires_analysis"},
        5,
    ),
    (
        "long multi-turn analysis with personal data",
        [_user("Analyze my salary history. " + LONG), _assistant("Go on."), _user("Why?")],
        {"multi_turn", "requires_analysis", "includes_personal_data", "long_request"},
        7,
    ),
    (
        "examples lower the score",
        [_user("Analyze this pattern, for example input: 3 output: 9")],
        {"requires_analysis", "has_examples"},
        1,
    ),
    (
        "personal data in an FAQ",
        [_user("My email is jane@example.com, how do I change it?")],
        {"includes_personal_data", "is_faq", "is_simple"},
        0,
    ),
    ("long plain text", [_user("lorem ipsum " * 60)], {"long_request"}, 1),
    (
        "everything complex",
        [
            _user("Brainstorm a story and analyze my salary. " + LONG),
            _assistant("OK"),
            _user("More"),
        ],
        {
            "multi_turn",
            "requires_analysis",
            "requires_creativity",
            "includes_personal_data",
            "long_request",
        },
        9,
    ),
    (
        "content given as parts",
        [{"role": "user", "content": [{"type": "text", "text": "What is an API?"}]}],
        {"is_faq", "is_simple"},
        0,
    ),
]


@pytest.mark.parametrize(
    ("messages", "present", "score"),
    [pytest.param(m, p, s, id=name) for name, m, p, s in SCORING],
)
def test_complexity_scoring(
    hook: ModuleType, policy: dict, messages: list, present: set, score: float
) -> None:
    features = hook.request_features(messages, policy["complexity"]["long_request_chars"])
    assert {name for name, on in features.items() if on} == present
    assert hook.complexity_score(features, policy["complexity"]["weights"]) == score


def test_system_prompt_does_not_count_as_a_turn(hook: ModuleType) -> None:
    messages = [{"role": "system", "content": "x" * 2000}, _user("What is an API?")]
    features = hook.request_features(messages, 500)
    assert not features["multi_turn"] and not features["long_request"]


# --- route choice ----------------------------------------------------------------------------

ROUTES = [
    # strategy, user tier, score, over budget, requested model, expected route
    ("local_first", "paid", 0, False, None, "local"),
    ("local_first", "paid", 3.5, False, None, "local"),
    ("local_first", "paid", 5, False, None, "medium"),
    ("local_first", "paid", 7, False, None, "large"),
    ("local_first", "free", 4.5, False, None, "local"),  # free tier keeps local below 5
    ("local_first", "free", 6, False, None, "medium"),
    ("local_first", "free", 9, False, None, "medium"),  # free never reaches large
    ("local_first", "own_key", 0, False, None, "large"),
    ("cost_optimized", "paid", 2, False, None, "local"),
    ("cost_optimized", "paid", 5, False, None, "medium"),
    ("cost_optimized", "paid", 8, False, None, "large"),
    ("quality", "paid", 0, False, None, "large"),
    ("quality", "free", 0, False, None, "medium"),
    ("speed", "paid", 9, False, None, "local"),  # nothing observed yet: the nearest route
    ("local_first", "paid", 9, True, None, "local"),  # budget spent: the cheapest route
    ("quality", "free", 9, True, None, "local"),
    ("local_first", "own_key", 9, True, None, "large"),  # the user's key: not our budget
    ("local_first", "paid", 0, False, "large", "large"),
    ("local_first", "free", 0, False, "large", "medium"),
    ("local_first", "paid", 0, True, "large", "local"),
]


@pytest.mark.parametrize(("strategy", "tier", "score", "over", "requested", "expected"), ROUTES)
def test_route_choice(
    hook: ModuleType,
    policy: dict,
    strategy: str,
    tier: str,
    score: float,
    over: bool,
    requested: str | None,
    expected: str,
) -> None:
    route, reason = hook.choose_route(
        policy,
        score=score,
        strategy=strategy,
        user_tier=tier,
        over_budget=over,
        requested=requested,
    )
    assert route == expected, reason
    assert reason


def test_speed_strategy_follows_observed_latency(hook: ModuleType, policy: dict) -> None:
    latency = {"local": 2.0, "medium": 0.4, "large": 1.1}
    route, _ = hook.choose_route(
        policy, score=0, strategy="speed", user_tier="paid", latency_s=latency
    )
    assert route == "medium"


def test_cost_optimized_takes_a_cheaper_capable_route(hook: ModuleType, policy: dict) -> None:
    cheap_large = {**policy, "route_prices": {**policy["route_prices"]}}
    cheap_large["route_prices"]["large"] = {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0}
    route, _ = hook.choose_route(cheap_large, score=5, strategy="cost_optimized", user_tier="paid")
    assert route == "large"


@pytest.mark.parametrize(
    ("route", "allowed", "over", "expected"),
    [
        ("local", ["local", "medium", "large"], False, ["medium", "large"]),
        ("medium", ["local", "medium", "large"], False, ["large"]),
        ("large", ["local", "medium", "large"], False, []),
        ("local", ["local", "medium"], False, ["medium"]),
        ("large", ["large"], False, []),
    ],
)
def test_fallback_routes(
    hook: ModuleType, policy: dict, route: str, allowed: list, over: bool, expected: list
) -> None:
    assert hook.fallback_routes(policy, route, allowed, over) == expected


# --- which local model ----------------------------------------------------------------------

TARGETS = [
    # strategy, user tier, score, over budget, requested: expected model, fallbacks, answered by
    ("local_first", "paid", 0, False, None, "local", ["medium", "large"], SIMPLE_2),
    ("local_first", "paid", 5, False, None, COMPLEX_2, ["medium", "large"], COMPLEX_2),
    ("local_first", "paid", 7, False, None, COMPLEX_2, ["large"], COMPLEX_2),
    ("local_first", "free", 4.5, False, None, "local", ["medium"], SIMPLE_2),
    ("local_first", "free", 6, False, None, COMPLEX_2, ["medium"], COMPLEX_2),
    ("local_first", "free", 9, False, None, COMPLEX_2, ["medium"], COMPLEX_2),  # no large
    ("cost_optimized", "paid", 2, False, None, "local", ["medium", "large"], SIMPLE_2),
    ("cost_optimized", "paid", 5, False, None, COMPLEX_2, ["medium", "large"], COMPLEX_2),
    ("cost_optimized", "paid", 8, False, None, COMPLEX_2, ["large"], COMPLEX_2),
    # The budget is spent: still the complex model first, then the cloud cheapest first.
    ("local_first", "paid", 9, True, None, COMPLEX_2, ["medium", "large"], COMPLEX_2),
    ("cost_optimized", "free", 6, True, None, COMPLEX_2, ["medium"], COMPLEX_2),
    # quality goes to the most capable route; spent budget sends it to the simple model.
    ("quality", "paid", 8, False, None, "large", [], "large"),
    ("quality", "paid", 9, True, None, "local", ["medium", "large"], SIMPLE_2),
    ("speed", "paid", 9, False, None, "local", ["medium", "large"], SIMPLE_2),
    ("local_first", "own_key", 9, False, None, "large", [], "large"),  # no local route at all
    # A route asked for by name is served as asked.
    ("local_first", "paid", 9, False, "large", "large", [], "large"),
    ("local_first", "paid", 9, False, "local", "local", ["medium", "large"], SIMPLE_2),
    ("local_first", "paid", 9, True, "large", "local", ["medium", "large"], SIMPLE_2),
]


@pytest.mark.parametrize(
    ("strategy", "tier", "score", "over", "requested", "model", "fallbacks", "serves"),
    TARGETS,
)
def test_local_target(
    hook: ModuleType,
    policy: dict,
    strategy: str,
    tier: str,
    score: float,
    over: bool,
    requested: str | None,
    model: str,
    fallbacks: list,
    serves: str,
) -> None:
    kwargs = {"score": score, "strategy": strategy, "user_tier": tier, "over_budget": over}
    route, _ = hook.choose_route(policy, requested=requested, **kwargs)
    target = hook.local_target(policy, route, requested=requested, **kwargs)
    assert (target["model"], target["fallbacks"], target["serves"]) == (
        model,
        fallbacks,
        serves,
    )
    assert target["route"] == ("local" if model in ("local", COMPLEX_2) else model)


def test_a_tier_without_a_complex_model_sends_complex_requests_to_the_cloud(
    hook: ModuleType, policy: dict
) -> None:
    single = {**policy, "local_models": {"simple": SIMPLE_2, "complex": None}}
    route, _ = hook.choose_route(single, score=7, strategy="local_first", user_tier="paid")
    target = hook.local_target(single, route, score=7, strategy="local_first", user_tier="paid")
    assert target == {"model": "large", "serves": "large", "route": "large", "fallbacks": []}


def test_a_user_tier_without_local_never_reaches_the_complex_model(
    hook: ModuleType, policy: dict
) -> None:
    tiers = {**policy["user_tiers"], "cloud": {"routes": ["medium", "large"]}}
    cloud_only = {**policy, "user_tiers": tiers}
    route, _ = hook.choose_route(cloud_only, score=5, strategy="local_first", user_tier="cloud")
    target = hook.local_target(
        cloud_only, route, score=5, strategy="local_first", user_tier="cloud"
    )
    assert (target["model"], target["fallbacks"]) == ("medium", ["large"])


def test_fallbacks_over_budget_go_cheapest_first(hook: ModuleType, policy: dict) -> None:
    pricey_medium = {**policy, "route_prices": {**policy["route_prices"]}}
    pricey_medium["route_prices"]["medium"] = {"input_usd_per_mtok": 99, "output_usd_per_mtok": 99}
    assert hook.fallback_routes(pricey_medium, "local", ["local", "medium", "large"], True) == [
        "large",
        "medium",
    ]


# --- the hook as LiteLLM calls it --------------------------------------------------------------


def _request(messages: list, model: str = "hybrid", headers: dict | None = None, **extra) -> dict:
    return {
        "model": model,
        "messages": messages,
        "proxy_server_request": {"headers": headers or {}},
        "metadata": {},
        **extra,
    }


def _pre_call(handler, data: dict, key_metadata: dict | None = None) -> dict:
    key = SimpleNamespace(metadata=key_metadata or {})
    return asyncio.run(handler.async_pre_call_hook(key, None, data, "completion"))


def test_pre_call_hook_rewrites_the_model_and_sets_fallbacks(hook: ModuleType) -> None:
    handler = hook.HybridRouter()
    data = _pre_call(handler, _request([_user("What are your opening hours?")]))
    assert data["model"] == "local"
    assert data["fallbacks"] == [{"local": ["medium", "large"]}]
    assert data["metadata"]["hybrid_route"] == "local"
    assert data["metadata"]["hybrid_user_tier"] == "paid"
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, None))
    assert headers == {
        "x-hybrid-route": "local",
        "x-hybrid-model": SIMPLE_2,
        "x-hybrid-complexity": "0",
        "x-hybrid-strategy": "local_first",
        "x-hybrid-user-tier": "paid",
    }


def test_pre_call_hook_sends_a_complex_request_to_the_complex_local_model(
    hook: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    handler = hook.HybridRouter()
    messages = [_user("Compare plan A and plan B"), _assistant("Sure."), _user("Evaluate both.")]
    with caplog.at_level("INFO", logger="hybrid_router"):
        data = _pre_call(handler, _request(messages))
    assert data["model"] == COMPLEX_2
    assert data["fallbacks"] == [{COMPLEX_2: ["medium", "large"]}]  # score 5 needs medium
    assert data["metadata"]["hybrid_route"] == "local"
    assert data["metadata"]["hybrid_model"] == COMPLEX_2
    assert "complex local model" in data["metadata"]["hybrid_reason"]
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, None))
    assert headers["x-hybrid-route"] == "local"
    assert headers["x-hybrid-model"] == COMPLEX_2
    assert f"-> local, model {COMPLEX_2}" in caplog.text


@pytest.mark.parametrize(
    ("planned", "group", "expected"),
    [
        (SIMPLE_2, "local", SIMPLE_2),  # the `local` route is the simple model
        (COMPLEX_2, COMPLEX_2, COMPLEX_2),
        (COMPLEX_2, "medium", "medium"),  # the complex model failed over to the cloud
        (SIMPLE_2, "large", "large"),
        (COMPLEX_2, None, COMPLEX_2),  # a cached answer reports no group
        (SIMPLE_2, "something-else", SIMPLE_2),
    ],
)
def test_answering_model(
    hook: ModuleType, policy: dict, planned: str, group: str | None, expected: str
) -> None:
    assert hook.answering_model(policy, planned, group) == expected


def test_response_header_names_the_model_that_answered_after_a_fallback(
    hook: ModuleType,
) -> None:
    handler = hook.HybridRouter()
    messages = [_user("Compare plan A and plan B"), _assistant("Sure."), _user("Evaluate both.")]
    data = _pre_call(handler, _request(messages))
    response = SimpleNamespace(
        _hidden_params={"additional_headers": {"x-litellm-model-group": "medium"}}
    )
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, response))
    assert (headers["x-hybrid-route"], headers["x-hybrid-model"]) == ("local", "medium")


def test_pre_call_hook_names_the_cloud_route_as_the_model(hook: ModuleType) -> None:
    handler = hook.HybridRouter()
    data = _pre_call(handler, _request([_user("Hi")], headers={"x-hybrid-strategy": "quality"}))
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, None))
    assert headers["x-hybrid-route"] == headers["x-hybrid-model"] == "large"


def test_pre_call_hook_reads_strategy_and_tier_from_headers_and_key(hook: ModuleType) -> None:
    handler = hook.HybridRouter()
    data = _pre_call(
        handler,
        _request(
            [_user("Hi")], headers={"X-Hybrid-Strategy": "quality", "x-hybrid-user-tier": "free"}
        ),
    )
    assert data["model"] == "medium"
    assert data["fallbacks"] == [{"medium": []}]
    # A tier stored on the virtual key beats the header.
    data = _pre_call(
        handler,
        _request(
            [_user("Hi")], headers={"x-hybrid-strategy": "quality", "x-hybrid-user-tier": "free"}
        ),
        key_metadata={"hybrid_user_tier": "paid"},
    )
    assert data["model"] == "large"


def test_pre_call_hook_reads_the_strategy_from_body_metadata(hook: ModuleType) -> None:
    data = _request([_user("Hi")])
    data["metadata"] = {"hybrid_strategy": "quality"}
    assert _pre_call(hook.HybridRouter(), data)["model"] == "large"


def test_pre_call_hook_ignores_calls_that_are_not_chat(hook: ModuleType) -> None:
    data = _request([_user("Hi")])
    result = asyncio.run(
        hook.HybridRouter().async_pre_call_hook(SimpleNamespace(), None, data, "embeddings")
    )
    assert result["model"] == "hybrid"


def test_pre_call_hook_leaves_other_models_alone(hook: ModuleType) -> None:
    data = _pre_call(hook.HybridRouter(), _request([_user("Hi")], model="qwen2.5-1.5b"))
    assert data["model"] == "qwen2.5-1.5b" and "fallbacks" not in data


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x-hybrid-strategy": "bogus"}, "unknown routing strategy"),
        ({"x-hybrid-user-tier": "vip"}, "unknown user tier"),
        ({"x-hybrid-user-tier": "own_key"}, "x-api-key"),
    ],
)
def test_pre_call_hook_rejects_bad_input(hook: ModuleType, headers: dict, message: str) -> None:
    with pytest.raises(Exception) as info:
        _pre_call(hook.HybridRouter(), _request([_user("Hi")], headers=headers))
    assert getattr(info.value, "status_code", 400) == 400
    assert message in str(getattr(info.value, "detail", info.value))


def test_own_key_goes_to_its_route_without_fallback_or_spend(hook: ModuleType) -> None:
    handler = hook.HybridRouter()
    data = _pre_call(handler, _request([_user("Hi")], api_key="user-provider-key"))
    assert data["model"] == "large" and data["fallbacks"] == [{"large": []}]
    assert data["metadata"]["hybrid_own_key"] is True
    assert "user-provider-key" not in json.dumps(data["metadata"])
    _log_success(handler, "large", cost=1.0, metadata=data["metadata"])
    assert asyncio.run(handler.ledger.spent_today()) == 0


def _log_success(handler, group: str, cost, metadata=None, usage=None) -> None:
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    kwargs = {
        "litellm_params": {"metadata": metadata or {}},
        "standard_logging_object": {"model_group": group},
        "response_cost": cost,
    }
    response = SimpleNamespace(usage=usage)
    end = start + dt.timedelta(seconds=1.5)
    asyncio.run(handler.async_log_success_event(kwargs, response, start, end))


def test_cloud_spend_past_the_budget_sends_traffic_to_the_cheapest_route(
    hook: ModuleType, policy: dict
) -> None:
    handler = hook.HybridRouter()
    complex_request = [
        _user("Analyze my salary history. " + LONG),
        _assistant("Go on."),
        _user("Why?"),
    ]
    quality = {"x-hybrid-strategy": "quality"}

    def routed(headers: dict | None = None) -> dict:
        return _pre_call(handler, _request(complex_request, headers=headers))

    assert routed(quality)["model"] == "large"
    first = routed()  # local_first: the complex local model, then the large route it needs
    assert (first["model"], first["fallbacks"]) == (COMPLEX_2, [{COMPLEX_2: ["large"]}])
    _log_success(handler, "local", cost=5.0)  # local traffic costs the operator nothing
    _log_success(handler, COMPLEX_2, cost=5.0)  # nor does the complex local model
    _log_success(handler, "large", cost=policy["daily_cloud_budget_usd"] - 1)
    assert routed(quality)["model"] == "large"
    usage = SimpleNamespace(prompt_tokens=1_000_000, completion_tokens=0)
    _log_success(handler, "medium", cost=None, usage=usage)  # priced from the catalog
    spent = asyncio.run(handler.ledger.spent_today())
    assert spent == pytest.approx(
        policy["daily_cloud_budget_usd"]
        - 1
        + policy["route_prices"]["medium"]["input_usd_per_mtok"]
    )
    if spent >= policy["daily_cloud_budget_usd"]:
        pytest.fail("test setup: the medium price should not cross the budget alone")
    _log_success(handler, "large", cost=1.0)
    data = routed(quality)
    assert data["model"] == "local" and data["metadata"]["hybrid_model"] == SIMPLE_2
    assert "budget" in data["metadata"]["hybrid_reason"]
    # local_first keeps its rule past the budget: the complex model, the cloud cheapest first.
    data = routed()
    assert (data["model"], data["fallbacks"]) == (COMPLEX_2, [{COMPLEX_2: ["medium", "large"]}])
    assert handler.latency_s["large"] == pytest.approx(1.5)
