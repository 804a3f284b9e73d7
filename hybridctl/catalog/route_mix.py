"""How the gateway spreads each cloud route over its models: one definition for router and plan.

The rendered LiteLLM config lists every model of a route as one deployment of that route's
model group. LiteLLM's default `simple-shuffle` picks among a group's healthy deployments at
random with equal weights when none of them sets `weight`, `rpm` or `tpm` (litellm
router_strategy/simple_shuffle.py: `random.choice`), and the rendered config sets none, so each
member takes an equal share. A free member with a daily request quota (OpenRouter's `:free`
models) answers 429 once the quota is spent; LiteLLM cools it down and the paid members take the
rest. The router's spend ledger and the planner's prices both come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog.schema import Catalog, CloudModel

CLOUD_ROUTES = ("medium", "large")
PRICE_DECIMALS = 6


@dataclass(frozen=True)
class MixMember:
    """One cloud model of a route and the share of the route's requests it answers."""

    name: str
    model: CloudModel
    share: float

    @property
    def free(self) -> bool:
        return self.model.input_usd_per_mtok == 0 and self.model.output_usd_per_mtok == 0


@dataclass(frozen=True)
class RouteMix:
    """A route's members with their shares; prices are the share-weighted mean."""

    route: str
    members: tuple[MixMember, ...]
    requests_per_day: float | None = None  # the volume the shares were worked out for

    @property
    def input_usd_per_mtok(self) -> float:
        return sum(m.share * m.model.input_usd_per_mtok for m in self.members)

    @property
    def output_usd_per_mtok(self) -> float:
        return sum(m.share * m.model.output_usd_per_mtok for m in self.members)

    def request_usd(self, prompt_tokens: float, response_tokens: float) -> float:
        """The expected price of one request on this route."""
        return (
            prompt_tokens * self.input_usd_per_mtok + response_tokens * self.output_usd_per_mtok
        ) / 1e6

    @property
    def free_share(self) -> float:
        return sum(m.share for m in self.members if m.free)

    def describe(self) -> str:
        """'groq-llama-3.1-8b 25%, openrouter-...-free 25% (free, 50/day), ...'."""
        parts = []
        for m in self.members:
            quota = m.model.free_requests_per_day
            extra = f" (free, {quota:,}/day)" if m.free and quota else " (free)" if m.free else ""
            parts.append(f"{m.name} {m.share:.0%}{extra}")
        return ", ".join(parts)


def route_members(catalog: Catalog, route: str) -> list[tuple[str, CloudModel]]:
    """The route's models in the catalog's order (routing.routes), as the router lists them."""
    names = catalog.routing.routes.get(route, [])  # type: ignore[call-overload]
    return [(name, catalog.cloud_models[name]) for name in names if name in catalog.cloud_models]


def _shares(quotas: list[float | None], requests_per_day: float | None) -> list[float]:
    """Equal shares, except that a member with a daily quota takes at most its quota.

    Water-filling: members whose equal share of what is left exceeds their quota take the quota,
    the others split the rest equally. With no volume given, quotas cannot bind.
    """
    n = len(quotas)
    shares = [1.0 / n] * n
    if not requests_per_day or requests_per_day <= 0:
        return shares
    left, open_ = requests_per_day, list(range(n))
    capped: dict[int, float] = {}
    while open_:
        each = left / len(open_)
        newly = [i for i in open_ if quotas[i] is not None and quotas[i] < each]  # type: ignore[operator]
        if not newly:
            for i in open_:
                capped[i] = each
            break
        for i in newly:
            capped[i] = float(quotas[i])  # type: ignore[arg-type]
            left -= capped[i]
            open_.remove(i)
    if not open_ and left > 0:
        # Every member is quota-bound and the quotas do not cover the volume: the excess fails
        # over to the next route in the real gateway; priced here at the members' even split.
        return [1.0 / n] * n
    return [capped[i] / requests_per_day for i in range(n)]


def route_mix(catalog: Catalog, route: str, requests_per_day: float | None = None) -> RouteMix:
    """The route's members and shares at `requests_per_day` on that route (None: no quota binds)."""
    members = route_members(catalog, route)
    if not members:
        return RouteMix(route, (), requests_per_day)
    quotas: list[float | None] = [
        float(m.free_requests_per_day) if m.free_requests_per_day is not None else None
        for _, m in members
    ]
    shares = _shares(quotas, requests_per_day)
    return RouteMix(
        route,
        tuple(MixMember(n, m, s) for (n, m), s in zip(members, shares, strict=True)),
        requests_per_day,
    )


def route_prices(catalog: Catalog, routes: list[str]) -> dict[str, dict[str, float]]:
    """Per-route mean prices per million tokens for the router's policy (local is free)."""
    prices: dict[str, dict[str, float]] = {}
    for route in routes:
        if route not in CLOUD_ROUTES:
            prices[route] = {"input_usd_per_mtok": 0.0, "output_usd_per_mtok": 0.0}
            continue
        mix = route_mix(catalog, route)
        if mix.members:
            prices[route] = {
                "input_usd_per_mtok": round(mix.input_usd_per_mtok, PRICE_DECIMALS),
                "output_usd_per_mtok": round(mix.output_usd_per_mtok, PRICE_DECIMALS),
            }
    return prices
