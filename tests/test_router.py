"""Router config rendering and the routing policy's scoring and route choice in the hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.errors import InputError
from hybridctl.gateway import hook as hook_package
from hybridctl.gateway.hook.scoring import FEATURES
from hybridctl.planning.capacity import tier_load
from hybridctl.planning.workload import Workload
from hybridctl.render.router import (
    HOOK_PACKAGE,
    ROUTER_FILES,
    build_router_context,
    copied_files,
    point_routes_at,
    render_router,
)
from tests.router_fixtures import (
    COMPLEX_2,
    LONG,
    SIMPLE_2,
    hook_pythonpath_env,
)
from tests.router_fixtures import assistant as _assistant
from tests.router_fixtures import user as _user

# --- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize("tier_id", load_catalog().tier_ids)
def test_every_tier_renders_a_parseable_config_without_secret_values(tier_id: str) -> None:
    files = render_router(build_router_context(load_catalog(), tier_id, "hetzner"))
    assert sorted(files) == sorted([*ROUTER_FILES, *copied_files()])
    config = yaml.safe_load(files["litellm_config.yaml"])
    json.loads(files["hybrid_policy.json"])

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
    assert "hybrid_hook.proxy.proxy_handler_instance" in config["litellm_settings"]["callbacks"]
    assert config["general_settings"]["custom_auth"] == "hybrid_hook.auth.user_api_key_auth"


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


def test_the_router_holds_no_path_between_routes_the_hook_sets_them(router_dir: Path) -> None:
    """A path in the router config would serve a free key's too-long prompt from large."""
    config = yaml.safe_load((router_dir / "litellm_config.yaml").read_text())
    settings = config["router_settings"]
    for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        assert not settings.get(field), field
    assert settings["num_retries"] == 0 and settings["disable_cooldowns"] is True
    policy = json.loads((router_dir / "hybrid_policy.json").read_text())
    assert policy["fallback_chain"] == ["local", "medium", "large"]
    assert policy["retries"] == {"local": 0, "medium": 1, "large": 1}
    assert set(policy["local_health"].values()) == {"http://llm:8080/health"}
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


def test_the_bundle_holds_the_hook_package_as_it_is(router_dir: Path) -> None:
    package = Path(hook_package.__file__).parent
    sources = sorted(p.name for p in package.iterdir() if p.suffix in (".py", ".json"))
    assert {"__init__.py", "proxy.py", "router.py", "need_model.json"} <= set(sources)
    for name in sources:
        copied = router_dir / HOOK_PACKAGE / name
        assert copied.read_bytes() == (package / name).read_bytes(), name
    assert sorted(p.name for p in (router_dir / HOOK_PACKAGE).iterdir()) == sources


# LiteLLM's get_instance_fn (litellm/proxy/types_utils/utils.py): a callback's module is looked for
# as a file beside the config (loaded by path, under its dotted name), else imported.
_AS_LITELLM_LOADS = """
import importlib, importlib.util, json, os, sys
config = sys.argv[1]
def instance(value):
    module_name, _, attr = value.rpartition(".")
    path = os.path.join(os.path.dirname(config), *module_name.split(".")) + ".py"
    if os.path.exists(path):
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, attr)
import yaml
settings = yaml.safe_load(open(config))
handler = instance(settings["litellm_settings"]["callbacks"][-1])
auth = instance(settings["general_settings"]["custom_auth"])
hook = sys.modules["hybrid_hook.router"]
print(json.dumps({
    "routes": handler.policy["routes"],
    "need": handler.need_model is not None,
    "policy_file": str(hook.POLICY_FILE),
    "auth": auth.__module__,
    "package": os.path.dirname(hook.__file__),
    "hybridctl": "hybridctl" in sys.modules,
}))
"""


def test_the_hook_loads_from_a_rendered_bundle_with_pythonpath_as_on_the_box(
    router_dir: Path, tmp_path: Path
) -> None:
    """The box sets PYTHONPATH to the router folder; the config names the package's modules."""
    env = {**os.environ, **hook_pythonpath_env(router_dir)}
    env.pop("PYTHONSAFEPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", _AS_LITELLM_LOADS, str(router_dir / "litellm_config.yaml")],
        cwd=tmp_path,  # not the repository: hybridctl itself must not be what answers
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["routes"] == ["local", "medium", "large"] and seen["need"] is True
    assert seen["policy_file"] == str(router_dir / "hybrid_policy.json")
    assert seen["package"] == str(router_dir / HOOK_PACKAGE)
    assert seen["auth"] == "hybrid_hook.auth" and seen["hybridctl"] is False
    # The compose healthcheck runs health.py as a script, by its path: it needs no package.
    script = str(router_dir / HOOK_PACKAGE / "health.py")
    code = f"import runpy; print(runpy.run_path({script!r})['CHECK_TIMEOUT_S'])"
    health = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert health.returncode == 0 and health.stdout.strip() == "5", health.stderr


class _OldBox:
    """A gateway whose bundle has the hook's files loose in router/ (before the package)."""

    where = "an old box"

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Any:
        self.calls.append(args)
        if "-m" in args:
            err = b"python: Error while finding module specification for 'hybrid_hook.keys' "
            err += b"(ModuleNotFoundError: No module named 'hybrid_hook')"
            return subprocess.CompletedProcess(args, 1, b"", err)
        return subprocess.CompletedProcess(args, 0, b'[{"name": "alice"}]', b"")


def test_keys_reach_a_box_whose_bundle_predates_the_hook_package() -> None:
    from hybridctl.ops.keys import KEYS_MODULE, LEGACY_KEYS_SCRIPT, run_keys

    box = _OldBox()
    assert run_keys("old", ["list"], box) == [{"name": "alice"}]
    assert box.calls == [
        ("exec", "-T", "gateway", "python", "-m", KEYS_MODULE, "list"),
        ("exec", "-T", "gateway", "python", LEGACY_KEYS_SCRIPT, "list"),
    ]


def test_the_hook_knows_every_catalog_factor(hook: ModuleType) -> None:
    assert tuple(hook.FEATURES) == FEATURES


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
    ("local_first", "paid", 9, True, None, "medium"),  # budget spent: cheapest cloud route
    ("local_first", "paid", 2, True, None, "local"),  # ... and local stays local
    ("quality", "free", 9, True, None, "medium"),
    ("local_first", "own_key", 9, True, None, "large"),  # the user's key: not our budget
    # A model named by the client is a ceiling: the policy still decides below it.
    ("local_first", "paid", 0, False, "large", "local"),
    ("local_first", "paid", 9, False, "medium", "medium"),
    ("quality", "paid", 0, False, "large", "large"),
    ("quality", "free", 0, False, "large", "medium"),
    ("quality", "paid", 0, True, "large", "medium"),
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


def test_the_bundle_carries_every_router_file_the_hook_imports() -> None:
    """A router file left out of the bundle stops the gateway at start (an ImportError)."""
    from hybridctl.render.bundle import render_files
    from hybridctl.render.context import RenderOptions

    rendered = render_files(load_catalog(), RenderOptions(tier_id="2", allow_unverified=True))
    in_bundle = {
        path.removeprefix("router/") for path in rendered.files if path.startswith("router/")
    }
    assert in_bundle == {*ROUTER_FILES, *copied_files()}
    assert {f"{HOOK_PACKAGE}/{name}" for name in ("proxy.py", "auth.py", "health.py")} < in_bundle


def test_the_personal_data_switch_reaches_the_rendered_policy() -> None:
    catalog = load_catalog()
    assert catalog.routing.personal_data == "score"  # today's rule unless the operator says so
    assert build_router_context(catalog, "2", "hetzner").policy["personal_data"] == "score"
    local = catalog.model_copy(
        update={"routing": catalog.routing.model_copy(update={"personal_data": "local"})}
    )
    files = render_router(build_router_context(local, "2", "hetzner"))
    assert json.loads(files["hybrid_policy.json"])["personal_data"] == "local"


def test_an_unknown_personal_data_rule_is_refused_by_the_catalog() -> None:
    from pydantic import ValidationError

    from hybridctl.catalog.schema import Routing

    data = load_catalog().routing.model_dump()
    with pytest.raises(ValidationError, match="personal_data"):
        Routing.model_validate({**data, "personal_data": "cloud"})
