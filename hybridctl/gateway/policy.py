"""The routing hook's policy (hybrid_policy.json) from the catalog's routing section."""

from __future__ import annotations

from typing import Any

from hybridctl.catalog.roles import LocalRoles
from hybridctl.catalog.schema import Catalog, Routing
from hybridctl.gateway.hook.need import MODEL_FILE, NeedModel

AUTO_MODEL = "hybrid"
HEADERS = {
    "strategy": "x-hybrid-strategy",
    "user_tier": "x-hybrid-user-tier",
    "task_type": "x-hybrid-task-type",
    "provider": "x-hybrid-provider",
}
# Key prefixes that tell a provider key's vendor, most specific first (sk-ant- before sk-).
KEY_FORMATS = (
    ("sk-ant-", "anthropic"),
    ("sk-or-", "openrouter"),
    ("gsk_", "groq"),
    ("AIza", "google"),
    ("sk-", "openai"),
)
# The need model's weights, in the hook's package beside need.py (which the hook loads them from).
NEED_MODEL_NAME = MODEL_FILE.name


def need_thresholds(
    need_at_share: dict[str, float], targets: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Each strategy's need thresholds: the held-out need at the target share of each route."""
    shares = sorted((float(share), value) for share, value in need_at_share.items())

    def at(target: float) -> float:
        return min(shares, key=lambda pair: abs(pair[0] - target))[1]

    return {
        strategy: {route: at(share) for route, share in routes.items()}
        for strategy, routes in targets.items()
    }


def need_policy(routing: Routing, model: NeedModel | None = None) -> dict[str, Any]:
    """The need model's part of the policy: its file, thresholds per strategy, their source."""
    model = model or NeedModel.load(MODEL_FILE)
    provenance = model.data["provenance"]
    targets = {
        str(strategy): {str(route): float(share) for route, share in routes.items()}
        for strategy, routes in routing.need_shares.items()
    }
    return {
        "model_file": NEED_MODEL_NAME,
        "target_shares": targets,
        "thresholds": need_thresholds(provenance["need_at_share"], targets),
        "source": f"trained {provenance['trained']} on {', '.join(provenance['sources'])}",
    }


def model_names(
    catalog: Catalog, routes: list[str], roles: LocalRoles, tier_models: list[str]
) -> dict[str, dict[str, Any]]:
    """Every model name a client may ask for -> {route, group (LiteLLM's model), provider}."""
    names: dict[str, dict[str, Any]] = {
        r: {"route": r, "group": r, "provider": None} for r in routes
    }
    for model in tier_models:
        names[model] = {"route": "local", "group": model, "provider": None}
    for route in ("medium", "large"):
        if route not in routes:
            continue
        for key in catalog.routing.routes.get(route, []):  # type: ignore[call-overload]
            cloud = catalog.cloud_models[key]
            entry = {"route": route, "group": cloud.litellm_model, "provider": cloud.provider}
            names[key] = entry
            names[cloud.litellm_model] = entry
    return names


def build_policy(
    catalog: Catalog,
    *,
    routes: list[str],
    roles: LocalRoles,
    tier_models: list[str],
    route_prices: dict[str, dict[str, float]],
    spend_store: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON the hook reads: every number and name it decides with."""
    routing: Routing = catalog.routing
    tiers = {
        name: {
            "routes": [r for r in policy.routes if r in routes],
            "max_complexity_local": policy.max_complexity_local,
            "min_confidence": policy.min_confidence,
        }
        for name, policy in routing.user_tiers.items()
    }
    return {
        "auto_model": AUTO_MODEL,
        "default_strategy": routing.default_strategy,
        "strategies": sorted(routing.strategies),
        "routes": routes,
        "local_models": roles.names,
        "models": model_names(catalog, routes, roles, tier_models),
        # The cloud models' groups in catalog order (an own key takes its vendor's first).
        "cloud_groups": [
            catalog.cloud_models[key].litellm_model
            for route in ("large", "medium")
            if route in routes
            for key in routing.routes.get(route, [])  # type: ignore[call-overload]
        ],
        "fallback_chain": [r for r in routing.fallback_chain if r in routes],
        "complexity": {
            "weights": dict(sorted(routing.complexity.weights.items())),
            "long_request_chars": routing.complexity.long_request_chars,
            "local_below": routing.complexity.local_below,
            "medium_below": routing.complexity.medium_below,
        },
        "need": need_policy(routing),
        "task_types": dict(sorted(routing.task_types.items())),
        "user_tiers": tiers,
        "default_user_tier": "paid" if "paid" in tiers else sorted(tiers)[0],
        "daily_cloud_budget_usd": routing.daily_cloud_budget_usd,
        "over_budget": routing.over_budget,
        "personal_data": routing.personal_data,
        "route_prices": route_prices,
        "headers": dict(HEADERS),
        "key_formats": [list(pair) for pair in KEY_FORMATS],
        "spend_store": spend_store,
    }
