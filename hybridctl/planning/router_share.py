"""The share of requests the gateway's router keeps on a tier's box, and what quality costs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, Routing, Tier

QUALITY_TARGET = 0.8  # the cost of quality: the cloud share that recovers this much of the gap


@dataclass(frozen=True)
class RouterShare:
    """The router's operating point on one tier under the catalog's default strategy."""

    strategy: str
    local_share: float  # requests the router keeps on the box
    cloud_share: float  # those it sends to the cloud by need alone
    gap_recovered: float | None  # the quality gap those cloud calls recover (held out)
    quality_target: float
    cloud_for_quality: float | None  # the cloud share that recovers quality_target of the gap
    source: str


def gap_recovered(routing: Routing, cloud_share: float) -> float | None:
    """The curve's gap recovered at a cloud share (straight lines between its points)."""
    if routing.need_curve is None:
        return None
    points = sorted({0.0: 0.0, **routing.need_curve.gap_recovered, 1.0: 1.0}.items())
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= cloud_share <= x1:
            return y0 + (y1 - y0) * (cloud_share - x0) / (x1 - x0) if x1 > x0 else y1
    return 1.0


def cloud_for_quality(routing: Routing, target: float = QUALITY_TARGET) -> float | None:
    """The smallest cloud share of the curve that recovers at least `target` of the gap."""
    if routing.need_curve is None:
        return None
    reached = [s for s, pgr in sorted(routing.need_curve.gap_recovered.items()) if pgr >= target]
    return float(reached[0]) if reached else 1.0


def router_share(
    catalog: Catalog, tier: Tier, complex_local: bool | None = None
) -> RouterShare | None:
    """What the rendered policy does on this tier: the need model sends the catalog's target
    share past the small local model (to the complex local model where the tier has one, so
    only the large route's share leaves the box), the rest stays local. None: no target shares.
    complex_local: whether the plan serves complex requests locally (default: the tier has a
    complex-role model).
    """
    routing = catalog.routing
    strategy = str(routing.default_strategy)
    targets = routing.need_shares.get(routing.default_strategy)
    if not targets:
        return None
    has_complex = local_roles(tier).complex is not None if complex_local is None else complex_local
    route = "large" if has_complex else "medium"
    cloud = float(targets.get(route, 0.0))  # type: ignore[call-overload]
    curve = routing.need_curve
    source = (
        f"the router's {strategy} operating point: {cloud:.0%} of requests to the {route} route "
        "by need (tiers.yaml routing.need_shares)"
    )
    if curve is not None:
        source += f"; gap recovered from {curve.source.ref}, {curve.source.as_of}"
    return RouterShare(
        strategy=strategy,
        local_share=1.0 - cloud,
        cloud_share=cloud,
        gap_recovered=gap_recovered(routing, cloud),
        quality_target=QUALITY_TARGET,
        cloud_for_quality=cloud_for_quality(routing),
        source=source,
    )


def local_cap(catalog: Catalog, tier: Tier, complex_local: bool) -> float:
    """The most of a workload the tier keeps local: the router's share, else the tier's promise."""
    share = router_share(catalog, tier, complex_local)
    return share.local_share if share is not None else tier.promises.local_share
