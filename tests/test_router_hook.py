"""The rendered hook as LiteLLM calls it: which model serves, headers, spend, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from types import ModuleType, SimpleNamespace

import pytest

from tests.router_fixtures import (
    COMPLEX_2,
    LONG,
    SIMPLE_2,
)
from tests.router_fixtures import assistant as _assistant
from tests.router_fixtures import handler as _handler
from tests.router_fixtures import pre_call as _pre_call
from tests.router_fixtures import request as _request
from tests.router_fixtures import user as _user

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
    # The budget is spent: still the complex model first, then the cheapest cloud route only.
    ("local_first", "paid", 9, True, None, COMPLEX_2, ["medium"], COMPLEX_2),
    ("cost_optimized", "free", 6, True, None, COMPLEX_2, ["medium"], COMPLEX_2),
    # quality goes to the most capable route; spent budget sends it to the cheapest cloud.
    ("quality", "paid", 8, False, None, "large", [], "large"),
    ("quality", "paid", 9, True, None, "medium", [], "medium"),
    ("speed", "paid", 9, False, None, "local", ["medium", "large"], SIMPLE_2),
    ("local_first", "own_key", 9, False, None, "large", [], "large"),  # no local route at all
    # A route asked for by name is the ceiling: never above it, fallbacks included.
    ("local_first", "paid", 9, False, "large", "large", [], "large"),
    ("local_first", "paid", 9, False, "local", "local", [], SIMPLE_2),
    ("local_first", "paid", 9, True, "large", "medium", [], "medium"),
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


def test_pre_call_hook_rewrites_the_model_and_sets_fallbacks(hook: ModuleType) -> None:
    handler = _handler(hook)
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
    handler = _handler(hook)
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
    handler = _handler(hook)
    messages = [_user("Compare plan A and plan B"), _assistant("Sure."), _user("Evaluate both.")]
    data = _pre_call(handler, _request(messages))
    response = SimpleNamespace(
        _hidden_params={"additional_headers": {"x-litellm-model-group": "medium"}}
    )
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, response))
    assert (headers["x-hybrid-route"], headers["x-hybrid-model"]) == ("local", "medium")


def test_pre_call_hook_names_the_cloud_route_as_the_model(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _pre_call(handler, _request([_user("Hi")], headers={"x-hybrid-strategy": "quality"}))
    headers = asyncio.run(handler.async_post_call_response_headers_hook(data, None, None))
    assert headers["x-hybrid-route"] == headers["x-hybrid-model"] == "large"


def test_pre_call_hook_reads_strategy_and_tier_from_headers_and_key(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _pre_call(
        handler,
        _request(
            [_user("Hi")], headers={"X-Hybrid-Strategy": "quality", "x-hybrid-user-tier": "free"}
        ),
    )
    assert data["model"] == "medium"
    assert data["fallbacks"] == []
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
    assert _pre_call(_handler(hook), data)["model"] == "large"


def test_pre_call_hook_ignores_calls_that_are_not_chat(hook: ModuleType) -> None:
    data = _request([_user("Hi")])
    result = asyncio.run(
        _handler(hook).async_pre_call_hook(SimpleNamespace(), None, data, "embeddings")
    )
    assert result["model"] == "hybrid"


def test_pre_call_hook_refuses_a_model_outside_the_catalog(hook: ModuleType) -> None:
    with pytest.raises(Exception) as info:
        _pre_call(_handler(hook), _request([_user("Hi")], model="qwen2.5-1.5b"))
    assert getattr(info.value, "status_code", None) == 400
    detail = str(getattr(info.value, "detail", info.value))
    assert "unknown model 'qwen2.5-1.5b'" in detail and COMPLEX_2 in detail
    assert "openai/gpt-4o" in detail and "claude-3.5-sonnet" in detail


@pytest.mark.parametrize(
    ("model", "strategy", "expected", "fallbacks"),
    [
        (COMPLEX_2, "local_first", COMPLEX_2, []),  # a local model by name: stays local
        ("openai/gpt-4o", "quality", "openai/gpt-4o", []),  # a cloud model by its own name
        ("gpt-4o", "quality", "openai/gpt-4o", []),  # or by its catalog name
        # An FAQ: the policy picks local below it, with the chain up to the ceiling.
        ("gpt-4o", "local_first", "local", ["medium", "large"]),
        ("groq-llama-3.1-8b", "quality", "groq/llama-3.1-8b-instant", []),
    ],
)
def test_every_model_name_goes_through_the_same_policy(
    hook: ModuleType, model: str, strategy: str, expected: str, fallbacks: list
) -> None:
    data = _pre_call(
        _handler(hook),
        _request([_user("What are your opening hours?")], model=model),
        key_metadata={"hybrid_user_tier": "paid"} if strategy == "local_first" else None,
    ) if strategy == "local_first" else _pre_call(
        _handler(hook),
        _request([_user("What are your opening hours?")], model=model,
                 headers={"x-hybrid-strategy": strategy}),
    )  # fmt: skip
    assert data["model"] == expected
    assert data["fallbacks"] == ([{expected: fallbacks}] if fallbacks else [])


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
        _pre_call(_handler(hook), _request([_user("Hi")], headers=headers))
    assert getattr(info.value, "status_code", 400) == 400
    assert message in str(getattr(info.value, "detail", info.value))


def test_own_key_goes_to_its_vendor_only_without_spend(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _pre_call(handler, _request([_user("Hi")], api_key="sk-proj-user-provider-key"))
    assert data["model"] == "openai/gpt-4o"
    assert data["fallbacks"] == [{"openai/gpt-4o": ["openai/gpt-4-turbo"]}]  # openai only
    assert data["metadata"]["hybrid_own_key"] is True
    assert "user-provider-key" not in json.dumps(data["metadata"])
    _log_success(handler, "openai/gpt-4o", cost=1.0, metadata=data["metadata"])
    assert asyncio.run(handler.store.spent()) == 0
    data = _pre_call(handler, _request([_user("Hi")], api_key="sk-ant-user-key"))
    assert data["model"] == "anthropic/claude-3-5-sonnet-20241022" and data["fallbacks"] == []


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
    handler = _handler(hook)
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
    spent = asyncio.run(handler.store.spent())
    assert spent == pytest.approx(
        policy["daily_cloud_budget_usd"]
        - 1
        + policy["route_prices"]["medium"]["input_usd_per_mtok"]
    )
    if spent >= policy["daily_cloud_budget_usd"]:
        pytest.fail("test setup: the medium price should not cross the budget alone")
    _log_success(handler, "large", cost=1.0)
    data = routed(quality)
    assert data["model"] == "medium" and data["metadata"]["hybrid_model"] == "medium"
    assert "budget" in data["metadata"]["hybrid_reason"]
    # local_first keeps its rule past the budget: the complex model, then the cheapest cloud.
    data = routed()
    assert (data["model"], data["fallbacks"]) == (COMPLEX_2, [{COMPLEX_2: ["medium"]}])
    assert handler.latency_s["large"] == pytest.approx(1.5)
