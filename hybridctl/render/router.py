"""The gateway's configuration from the catalog: LiteLLM's proxy config, the policy, the hook."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hybridctl.catalog.roles import LocalRoles, local_roles
from hybridctl.catalog.route_mix import route_prices
from hybridctl.catalog.schema import Catalog, Routing, Tier
from hybridctl.errors import InputError
from hybridctl.gateway import hook
from hybridctl.gateway.hook.auth import MASTER_KEY_ENV
from hybridctl.gateway.hook.rules import POLICY_NAME, ROUTE_ORDER
from hybridctl.gateway.hook.scoring import FEATURES
from hybridctl.gateway.policy import AUTO_MODEL, HEADERS, build_policy
from hybridctl.stackfacts import HOOK_PACKAGE

LOCAL_API_BASE = "http://llm:8080/v1"  # the `llm` compose service, internal network only
# A local request may take this many times the tier's typical latency (its upper bound) before
# it fails over, within these bounds; a server that does not answer at all is caught in
# seconds by the hook's health check instead.
LOCAL_TIMEOUT_LATENCIES = 10
LOCAL_TIMEOUT_BOUNDS_S = (30, 300)
CLOUD_TIMEOUT_S = 120
CLOUD_RETRIES = 1  # a vendor's passing 429 or 5xx; the local server is health-checked instead
# The cache's Redis waits this long before the request goes on without it.
CACHE_TIMEOUT_S = 1.0
ROUTER_TEMPLATE_DIR = "router"
ROUTER_FILES = ("litellm_config.yaml", POLICY_NAME)
"""Files rendered into the bundle's router/ folder from templates/router/<name>.j2."""
# The hook package (hybridctl.gateway.hook) is copied under router/ with this name, as it is: the
# gateway's PYTHONPATH is the router folder, and LiteLLM's config names the package's modules.
HOOK_SOURCE = Path(hook.__file__).parent
HOOK_SUFFIXES = (".py", ".json")  # the package's code and the need model's weights
CALLBACK = f"{HOOK_PACKAGE}.proxy.proxy_handler_instance"  # litellm_settings.callbacks
CUSTOM_AUTH = f"{HOOK_PACKAGE}.auth.user_api_key_auth"  # general_settings.custom_auth

STRATEGY_HEADER = HEADERS["strategy"]
USER_TIER_HEADER = HEADERS["user_tier"]
REDIS_HOST = "redis"  # the compose service
REDIS_PORT = 6379
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"

# LiteLLM's own choice among the deployments of one route, per default strategy.
_LITELLM_STRATEGY = {
    "local_first": "simple-shuffle",
    "quality": "simple-shuffle",
    "cost_optimized": "cost-based-routing",
    "speed": "latency-based-routing",
}
# Environment variable that holds each cloud provider's key (the names LiteLLM itself reads).
_PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}

CacheKind = Literal["redis", "local", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deployment(_Frozen):
    """One entry of LiteLLM's model_list."""

    model_name: str  # a route (local/medium/large), a local model's name or a cloud model's
    route: str
    litellm_model: str
    provider: str | None = None  # the cloud vendor; None for the local model server
    api_base: str | None = None
    api_key_env: str | None = None  # rendered as os.environ/NAME, never as a value
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    timeout_s: int = 120


class RouterContext(_Frozen):
    """Everything the router templates use (reached as `router` in a template)."""

    tier_id: str
    provider: str
    auto_model: str = AUTO_MODEL
    simple_model: str  # the `local` route's model: requests under the local threshold
    complex_model: str | None  # requests at or above it, when the strategy keeps them local
    deployments: list[Deployment]
    fallback_chain: list[str]
    litellm_routing_strategy: str
    request_timeout_s: int = CLOUD_TIMEOUT_S
    cache: CacheKind
    cache_timeout_s: float = CACHE_TIMEOUT_S
    cache_ttl_s: int
    redis_host: str = REDIS_HOST
    redis_port: int = REDIS_PORT
    redis_password_env: str = REDIS_PASSWORD_ENV
    master_key_env: str = MASTER_KEY_ENV
    prometheus: bool
    policy: dict[str, Any]
    callback: str = CALLBACK
    custom_auth: str = CUSTOM_AUTH

    @property
    def route_names(self) -> list[str]:
        return [r for r in ROUTE_ORDER if any(d.model_name == r for d in self.deployments)]

    @property
    def policy_json(self) -> str:
        return json.dumps(self.policy, indent=2, sort_keys=True)

    @property
    def key_env_names(self) -> list[str]:
        """Environment variables the gateway container needs (besides the master key)."""
        names = {d.api_key_env for d in self.deployments if d.api_key_env}
        if self.cache == "redis":
            names.add(self.redis_password_env)
        return sorted(names)


def _per_token(usd_per_mtok: float) -> float:
    """A per-million price as LiteLLM's per-token price, without float noise in the YAML."""
    return float(f"{usd_per_mtok / 1e6:.6g}")


def _key_env(provider: str) -> str:
    return _PROVIDER_KEY_ENV.get(provider.lower(), f"{provider.upper()}_API_KEY")


def _check_routing(routing: Routing) -> None:
    unknown = sorted(set(routing.complexity.weights) - set(FEATURES))
    if unknown:
        raise InputError(
            f"catalog routing.complexity.weights has factors the router cannot detect: "
            f"{', '.join(unknown)}",
            hint=f"Use only: {', '.join(FEATURES)}.",
        )
    missing = sorted(set(ROUTE_ORDER) - set(routing.fallback_chain))
    if missing:
        raise InputError(
            f"catalog routing.fallback_chain lacks {', '.join(missing)}",
            hint="List every route, cheapest first: fallback_chain: [local, medium, large].",
        )


def _cloud_deployments(catalog: Catalog, route: str) -> list[Deployment]:
    """The route's deployments, then each cloud model alone under its own LiteLLM name."""
    deployments = []
    for name in catalog.routing.routes.get(route, []):  # type: ignore[call-overload]
        cloud = catalog.cloud_models.get(name)
        if cloud is None:
            raise InputError(
                f"catalog routing.routes.{route} names {name!r}, which is not in cloud_models",
                hint="Add it to cloud_models or remove it; known: "
                f"{', '.join(catalog.cloud_models)}.",
            )
        deployments.append(
            Deployment(
                model_name=route,
                route=route,
                litellm_model=cloud.litellm_model,
                provider=cloud.provider,
                api_key_env=_key_env(cloud.provider),
                input_cost_per_token=_per_token(cloud.input_usd_per_mtok),
                output_cost_per_token=_per_token(cloud.output_usd_per_mtok),
            )
        )
    # A client (or an own key, which must reach one vendor only) names one model this way.
    return deployments + [d.model_copy(update={"model_name": d.litellm_model}) for d in deployments]


def local_timeout_s(tier: Tier) -> int:
    """How long a local request may take before it fails over: sized to the tier's latency."""
    low, high = LOCAL_TIMEOUT_BOUNDS_S
    latency_s = tier.promises.typical_latency_s[1]
    return int(min(high, max(low, math.ceil(LOCAL_TIMEOUT_LATENCIES * latency_s))))


def health_url(api_base: str) -> str:
    """The health check of the OpenAI-compatible server at api_base (llama.cpp's /health)."""
    root = api_base.rstrip("/")
    return (root[: -len("/v1")] if root.endswith("/v1") else root) + "/health"


def _local_deployments(tier: Tier, roles: LocalRoles, api_base: str) -> list[Deployment]:
    simple = roles.simple.model
    local = [Deployment(model_name="local", route="local", litellm_model=f"openai/{simple}")]
    # Every model the tier serves is also reachable by its own catalog name: the hook sends
    # complex requests to the complex model that way.
    local += [
        Deployment(model_name=m.model, route="local", litellm_model=f"openai/{m.model}")
        for m in tier.models
    ]
    timeout = local_timeout_s(tier)
    return [d.model_copy(update={"api_base": api_base, "timeout_s": timeout}) for d in local]


def _local_health(deployments: list[Deployment]) -> dict[str, str]:
    """Each local model name (and the `local` route) -> its server's health URL, for the hook."""
    return {
        d.model_name: health_url(d.api_base)
        for d in deployments
        if d.route == "local" and d.api_base and not d.provider
    }


def build_router_context(
    catalog: Catalog, tier: Tier | str, provider: str, *, local_api_base: str = LOCAL_API_BASE
) -> RouterContext:
    """The router settings for a tier: its local models, the catalog's cloud routes and policy."""
    if isinstance(tier, str):
        tier = catalog.tier(tier)
    routing = catalog.routing
    _check_routing(routing)
    roles = local_roles(tier)
    deployments = _local_deployments(tier, roles, local_api_base)
    for route in ("medium", "large"):
        deployments += _cloud_deployments(catalog, route)
    routes = [r for r in ROUTE_ORDER if any(d.model_name == r for d in deployments)]
    chain = [r for r in routing.fallback_chain if r in routes]
    redis = "redis" in tier.services
    spend_store = (
        {
            "host": REDIS_HOST,
            "host_env": "REDIS_HOST",  # compose sets it to node 0's Redis on multi-node boxes
            "port": REDIS_PORT,
            "password_env": REDIS_PASSWORD_ENV,
        }
        if redis
        else None
    )
    policy = build_policy(
        catalog,
        routes=routes,
        roles=roles,
        tier_models=[m.model for m in tier.models],
        route_prices=route_prices(catalog, routes),  # the planner prices with the same mix
        spend_store=spend_store,
    )
    policy["local_health"] = _local_health(deployments)
    policy["local_timeout_s"] = local_timeout_s(tier)
    policy["retries"] = {r: (0 if r == "local" else CLOUD_RETRIES) for r in routes}
    return RouterContext(
        tier_id=tier.id,
        provider=provider,
        simple_model=roles.simple.model,
        complex_model=roles.complex.model if roles.complex else None,
        deployments=deployments,
        fallback_chain=chain,
        litellm_routing_strategy=_LITELLM_STRATEGY[routing.default_strategy],
        cache="redis" if redis else "local",
        cache_ttl_s=routing.cache_ttl_s,
        prometheus="prometheus" in tier.services,
        policy=policy,
    )


def point_routes_at(
    context: RouterContext,
    api_bases: dict[str, str],
    *,
    budget_usd: float | None = None,
    redis: bool = True,
) -> RouterContext:
    """A copy whose routes each go to one OpenAI-compatible server (tests, or a relay).

    Keys of `api_bases` are routes or local model names (a tier's models are reachable by name
    too). Each one named keeps its first deployment's key variable and its route's mean catalog
    price, so spend accounting and key handling stay as rendered. `redis=False` keeps the cache
    and the daily spend inside the gateway process.
    """
    deployments: list[Deployment] = []
    for d in context.deployments:
        # A cloud model's own group follows its route's server.
        name = d.route if d.provider and d.model_name != d.route else d.model_name
        if name not in api_bases:
            deployments.append(d)
        elif not any(x.model_name == d.model_name for x in deployments):
            prices = context.policy["route_prices"][d.route]
            deployments.append(
                d.model_copy(
                    update={
                        "litellm_model": f"openai/{name}-model",
                        "api_base": api_bases[name],
                        "input_cost_per_token": _per_token(prices["input_usd_per_mtok"]),
                        "output_cost_per_token": _per_token(prices["output_usd_per_mtok"]),
                    }
                )
            )
    policy = dict(context.policy)
    policy["local_health"] = _local_health(deployments)
    if budget_usd is not None:
        policy["daily_cloud_budget_usd"] = budget_usd
    update: dict[str, Any] = {"deployments": deployments, "policy": policy}
    if not redis:  # no Redis beside the gateway: cache and spend in the gateway process
        policy["spend_store"] = None
        update["cache"] = "local" if context.cache == "redis" else context.cache
    return context.model_copy(update=update)


def point_vendors_at(context: RouterContext, api_bases: dict[str, str]) -> RouterContext:
    """A copy whose cloud deployments of each named vendor go to that vendor's api_base (tests).

    Unlike point_routes_at, each deployment keeps its LiteLLM model, so an Anthropic model is
    still spoken to in Anthropic's API, and a route that mixes vendors stays mixed.
    """
    deployments = [
        d.model_copy(update={"api_base": api_bases[d.provider]}) if d.provider in api_bases else d
        for d in context.deployments
    ]
    return context.model_copy(update={"deployments": deployments})


def point_redis_at(context: RouterContext, host: str, port: int) -> RouterContext:
    """A copy whose cache and daily spend use the Redis at host:port (tests, or an external one)."""
    policy = dict(context.policy)
    policy["spend_store"] = {"host": host, "port": port, "password_env": context.redis_password_env}
    return context.model_copy(
        update={"cache": "redis", "redis_host": host, "redis_port": port, "policy": policy}
    )


class _RouterOnly(BaseModel):
    router: RouterContext


def render_router(context: RouterContext, templates: Path | None = None) -> dict[str, str]:
    """The router folder's files by path in it, exactly as the bundle holds them."""
    from hybridctl.render.engine import make_environment, render_template

    env = make_environment(templates)
    wrapper = _RouterOnly(router=context)
    rendered = {
        name: render_template(env, f"{ROUTER_TEMPLATE_DIR}/{name}.j2", wrapper)
        for name in ROUTER_FILES
    }
    return {**rendered, **copied_files()}


def copied_files() -> dict[str, str]:
    """The hook package as the bundle holds it ({HOOK_PACKAGE}/<file>: text), copied as it is."""
    return {
        f"{HOOK_PACKAGE}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(HOOK_SOURCE.iterdir())
        if path.is_file() and path.suffix in HOOK_SUFFIXES
    }


def write_router(context: RouterContext, dest: Path) -> list[Path]:
    """Write the router files into `dest` (created if needed); returns the paths written."""
    written = []
    for name, text in render_router(context).items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
