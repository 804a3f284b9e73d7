"""The routing policy's decisions: which route and model serve a request, and what it may not do.

Pure functions over hybrid_policy.json (which load_policy reads); standard library only. Every
model name a client may send (the auto model, a route, a local model, a cloud model's own name)
goes through the same rules: complexity and task type, then the user tier, then the budgets.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .scoring import required_route

ROUTE_ORDER = ("local", "medium", "large")  # least to most capable
POLICY_NAME = "hybrid_policy.json"
# The renderer writes the policy beside this package: the bundle's router/ folder, which is also
# the folder on the gateway's PYTHONPATH.
POLICY_FILE = Path(__file__).parent.parent / POLICY_NAME
LOCAL_COMPLEX_STRATEGIES = ("local_first", "cost_optimized")


def load_policy(path: Path = POLICY_FILE) -> dict[str, Any]:
    """The routing policy hybridctl rendered from the catalog."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


class Rejected(Exception):
    """A request the policy refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _rank(route: str) -> int:
    return ROUTE_ORDER.index(route)


def _price(policy: dict[str, Any], route: str) -> float:
    prices = policy["route_prices"].get(route, {})
    return float(prices.get("input_usd_per_mtok", 0)) + float(prices.get("output_usd_per_mtok", 0))


def cheapest_route(policy: dict[str, Any], allowed: list[str]) -> str:
    return min(allowed, key=lambda r: (_price(policy, r), _rank(r)))


def _clamp(route: str, allowed: list[str]) -> str:
    """`route` if allowed, else the most capable allowed route below it, else the least capable."""
    if route in allowed:
        return route
    below = [r for r in allowed if _rank(r) < _rank(route)]
    return max(below, key=_rank) if below else min(allowed, key=_rank)


def allowed_routes(policy: dict[str, Any], user_tier: str) -> list[str]:
    """The routes a user tier may use, least capable first."""
    routes = policy["user_tiers"][user_tier]["routes"]
    return sorted((r for r in routes if r in policy["routes"]), key=_rank)


def usable_routes(
    policy: dict[str, Any],
    user_tier: str,
    *,
    over_budget: bool = False,
    key_over_budget: bool = False,
    ceiling: str | None = None,
    local_only: bool = False,
) -> list[str]:
    """The tier's routes less what the budgets and a requested model's route rule out;
    `local_only` (personal data the operator keeps on the box): the local route, or none."""
    allowed = allowed_routes(policy, user_tier)
    if local_only:
        return ["local"] if "local" in allowed else []
    if ceiling is not None:
        allowed = [r for r in allowed if _rank(r) <= _rank(ceiling)] or allowed[:1]
    clouds = [r for r in allowed if r != "local"]
    if key_over_budget:
        clouds = []
    elif over_budget and user_tier != "own_key" and clouds:
        mode = policy.get("over_budget", "cheapest_cloud")
        clouds = [cheapest_route(policy, clouds)] if mode == "cheapest_cloud" else []
    return [r for r in allowed if r == "local" or r in clouds]


def keeps_local(policy: dict[str, Any], features: dict[str, bool]) -> bool:
    """Whether a request may only be served on the box: it shows personal data and the operator
    keeps such requests local (the catalog's routing.personal_data: local)."""
    return policy.get("personal_data") == "local" and bool(features.get("includes_personal_data"))


def refuse_personal_data(user_tier: str) -> Rejected:
    return Rejected(
        403,
        f"this request contains personal data, which this gateway keeps on its local model "
        f"(routing.personal_data: local), and user tier {user_tier} may use no local route; "
        "remove the personal data or use a key whose tier includes the local route",
    )


def need_route(policy: dict[str, Any], need: float | None, strategy: str | None) -> str:
    """The least capable route the need model calls for under a strategy's thresholds."""
    thresholds = (policy.get("need") or {}).get("thresholds", {}).get(strategy or "")
    if need is None or not thresholds:
        return "local"
    if need >= thresholds.get("large", math.inf):
        return "large"
    return "medium" if need >= thresholds.get("medium", math.inf) else "local"


def needed_route(
    policy: dict[str, Any],
    score: float,
    user_tier: str,
    task_type: str | None = None,
    *,
    need: float | None = None,
    strategy: str | None = None,
) -> str:
    """The least capable route the score (with the tier's local threshold), need and task call for.

    The complexity factors and the task type stay rules: the need model can raise a route,
    never lower it.
    """
    thresholds = policy["complexity"]
    local_below = policy["user_tiers"][user_tier].get("max_complexity_local")
    if local_below is None:
        local_below = thresholds["local_below"]
    route = required_route(score, local_below, thresholds["medium_below"])
    by_need = need_route(policy, need, strategy)
    if _rank(by_need) > _rank(route):
        route = by_need
    task_route = policy.get("task_types", {}).get(task_type) if task_type else None
    if task_route and _rank(task_route) > _rank(route):
        route = task_route
    return route


def choose_route(
    policy: dict[str, Any],
    *,
    score: float,
    strategy: str,
    user_tier: str,
    over_budget: bool = False,
    requested: str | None = None,
    latency_s: dict[str, float] | None = None,
    task_type: str | None = None,
    key_over_budget: bool = False,
    need: float | None = None,
    local_only: bool = False,
) -> tuple[str, str]:
    """(route, reason): strategy, score and task, capped by the requested route, tier, budgets;
    `local_only` (personal data the operator keeps local): the local route or a 403."""
    allowed = allowed_routes(policy, user_tier)
    usable = usable_routes(
        policy,
        user_tier,
        over_budget=over_budget,
        key_over_budget=key_over_budget,
        ceiling=requested,
        local_only=local_only,
    )
    if not usable and local_only:
        raise refuse_personal_data(user_tier)
    if not usable:
        raise Rejected(429, "the daily cloud budget is spent and this key has no local route")
    needed = needed_route(policy, score, user_tier, task_type, need=need, strategy=strategy)
    task = f", task {task_type}" if task_type else ""
    if need is not None:
        task += f", need {need:.2f}"
    if strategy == "local_first":
        route = needed  # local below the tier's threshold; the chain climbs only on failure
        reason = f"local_first: score {score:g}{task} needs {needed}"
    elif strategy == "cost_optimized":
        able = [r for r in allowed if _rank(r) >= _rank(needed)] or allowed
        route = cheapest_route(policy, able)
        reason = f"cost_optimized: cheapest route able to serve {needed} (score {score:g}{task})"
    elif strategy == "quality":
        route, reason = ROUTE_ORDER[-1], "quality: most capable route"
    elif strategy == "speed":
        observed = latency_s or {}
        route = min(allowed, key=lambda r: (observed.get(r, float("inf")), _rank(r)))
        reason = "speed: lowest observed latency" if observed else "speed: nearest route"
    else:
        raise Rejected(400, f"unknown routing strategy {strategy!r}")
    if requested is not None and _rank(route) > _rank(requested):
        route, reason = requested, reason + f"; model of route {requested} requested"
    chosen = _clamp(route, usable)
    if chosen != route:
        if route not in allowed or _clamp(route, allowed) == chosen:
            reason += f"; user tier {user_tier} allows {'/'.join(allowed)}"
        if key_over_budget:
            reason += f"; key's daily budget spent, {route} -> {chosen}"
        elif local_only:
            reason += f"; personal data stays local, {_clamp(route, allowed)} -> {chosen}"
        elif over_budget and chosen != _clamp(route, allowed):
            reason += f"; daily cloud budget spent, {_clamp(route, allowed)} -> {chosen}"
    return chosen, reason


def fallback_routes(
    policy: dict[str, Any], route: str, allowed: list[str], over_budget: bool
) -> list[str]:
    """Routes to try after `route` fails: the rest of the chain, cheapest first when over budget."""
    chain = policy["fallback_chain"]
    start = chain.index(route) + 1 if route in chain else 0
    later = [r for r in chain[start:] if r in allowed and r != route]
    if over_budget:
        return sorted(later, key=lambda r: (_price(policy, r), _rank(r)))
    return later


def local_target(
    policy: dict[str, Any],
    route: str,
    *,
    score: float,
    strategy: str,
    user_tier: str,
    over_budget: bool = False,
    requested: str | None = None,
    usable: list[str] | None = None,
    task_type: str | None = None,
    need: float | None = None,
) -> dict[str, Any]:
    """{model: asked of LiteLLM, serves: model name or route, route, fallbacks} for `route`.

    `local` is the simple model. A request that needs medium or large tries the complex local
    model first (over budget too) if the tier has one, the user tier allows local, the task
    type (if any) is a local one and the strategy is in LOCAL_COMPLEX_STRATEGIES; then the
    cloud route chosen and the chain after it.
    """
    allowed = usable
    if allowed is None:
        allowed = usable_routes(policy, user_tier, over_budget=over_budget, ceiling=requested)
    local = policy["local_models"]
    complex_model = local.get("complex")
    task_route = policy.get("task_types", {}).get(task_type, "local") if task_type else "local"
    if (
        requested is None
        and complex_model
        and task_route == "local"  # a task type that needs the cloud is not tried locally
        and strategy in LOCAL_COMPLEX_STRATEGIES
        and "local" in allowed
        and needed_route(policy, score, user_tier, task_type, need=need, strategy=strategy)
        != "local"
    ):
        then = fallback_routes(policy, route, allowed, over_budget)
        if route != "local":
            then = [route, *then]
        return {
            "model": complex_model,
            "serves": complex_model,
            "route": "local",
            "fallbacks": then,
        }
    return {
        "model": route,
        "serves": local["simple"] if route == "local" else route,
        "route": route,
        "fallbacks": fallback_routes(policy, route, allowed, over_budget),
    }


def resolve_model(policy: dict[str, Any], model: Any) -> dict[str, Any] | None:
    """The catalog entry of a requested model name; None for the auto model; else a 400."""
    if model == policy["auto_model"]:
        return None
    entry = policy["models"].get(model) if isinstance(model, str) else None
    if entry is None:
        names = ", ".join([policy["auto_model"], *sorted(policy["models"])])
        raise Rejected(400, f"unknown model {model!r}; this gateway accepts: {names}")
    return dict(entry)


def vendors(policy: dict[str, Any]) -> list[str]:
    return sorted({e["provider"] for e in policy["models"].values() if e.get("provider")})


def key_vendor(policy: dict[str, Any], provider_key: str, header: str | None) -> str:
    """The vendor an own key belongs to: the explicit header, else the key's format, else 400."""
    known = vendors(policy)
    header_name = policy["headers"]["provider"]
    if header:
        vendor = header.strip().lower()
        if vendor not in known:
            raise Rejected(
                400, f"{header_name} {header!r} is not a vendor here; use one of {', '.join(known)}"
            )
        return vendor
    for prefix, vendor in policy["key_formats"]:
        if provider_key.startswith(prefix):
            return str(vendor)
    raise Rejected(
        400,
        "cannot tell which vendor the key in x-api-key belongs to, so it is sent nowhere; "
        f"name it in the {header_name} header (one of {', '.join(known)})",
    )


def own_key_target(
    policy: dict[str, Any], vendor: str, requested: dict[str, Any] | None, model: Any
) -> dict[str, Any]:
    """The own-key user's vendor's model (the one named, else its most capable), no other vendor."""
    allowed = allowed_routes(policy, "own_key")
    groups: list[tuple[str, str]] = []  # (group, route), most capable route first
    for group in policy["cloud_groups"]:
        entry = policy["models"][group]
        if entry.get("provider") == vendor and entry["route"] in allowed:
            groups.append((group, entry["route"]))
    if requested is not None and requested.get("provider") and requested["provider"] != vendor:
        raise Rejected(
            400,
            f"model {model!r} is {requested['provider']}'s, but the key in x-api-key is for "
            f"{vendor}; an own key is sent only to its own vendor",
        )
    if not groups:
        raise Rejected(
            400,
            f"no {vendor} model on this gateway's own-key routes ({'/'.join(allowed)}); "
            f"own keys work for: {', '.join(v for v in vendors(policy) if v != vendor) or 'none'}",
        )
    named = [g for g in groups if requested is not None and g[0] == requested.get("group")]
    group, route = named[0] if named else groups[0]
    return {
        "model": group,
        "serves": group,
        "route": route,
        "fallbacks": [g for g, _ in groups if g != group],
    }


def answer_confidence(response: Any) -> float | None:
    """exp(mean token log-probability) of the first choice, or None when none came back."""
    choices = getattr(response, "choices", None) or []
    logprobs = getattr(choices[0], "logprobs", None) if choices else None
    content = getattr(logprobs, "content", None)
    if content is None and isinstance(logprobs, dict):
        content = logprobs.get("content")
    values = []
    for token in content or []:
        value = token.get("logprob") if isinstance(token, dict) else getattr(token, "logprob", None)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values.append(float(value))
    if not values:
        return None
    return math.exp(sum(values) / len(values))


def answering_model(policy: dict[str, Any], planned: str, model_group: str | None) -> str:
    """The model name or route that answered: LiteLLM's model group (a fallback's if one ran)."""
    local = policy["local_models"]
    if not model_group:
        return planned
    if model_group == "local":
        return str(local["simple"])
    if model_group in policy["routes"] or model_group in policy["models"]:
        return model_group
    return planned
