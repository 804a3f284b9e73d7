"""The share of requests the gateway's router keeps on a tier's box, and what quality costs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, NeedCurve, Tier

QUALITY_TARGET = 0.8  # the cost of quality: the cloud share that recovers this much of the gap
# Cloud calls that recover within this of their own share of the gap: the ranking does no
# better on this kind of traffic than a random pick would.
CHANCE_MARGIN = 0.05


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
    traffic: str | None = None  # the kind of requests the curve was measured on
    near_chance: bool = False  # those cloud calls recover what a random pick's would


def _between(points: dict[float, float], x: float) -> float:
    """A curve through (0, 0), its points and (1, 1), read at x (straight lines between)."""
    ordered = sorted({0.0: 0.0, **points, 1.0: 1.0}.items())
    for (x0, y0), (x1, y1) in itertools.pairwise(ordered):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return 1.0


def gap_recovered(curve: NeedCurve, cloud_share: float) -> float:
    """The curve's gap recovered at a cloud share (straight lines between its points)."""
    return _between(curve.gap_recovered, cloud_share)


def routed_share(curve: NeedCurve, target: float) -> float:
    """The share of this traffic the thresholds for a target share send on (the target itself
    where the curve does not say)."""
    return _between(curve.routed_share, target) if curve.routed_share else target


def cloud_for_quality(curve: NeedCurve, target: float = QUALITY_TARGET) -> float:
    """The smallest cloud share of the curve that recovers at least `target` of the gap."""
    reached = [s for s, pgr in sorted(curve.gap_recovered.items()) if pgr >= target]
    return float(reached[0]) if reached else 1.0


def _target(catalog: Catalog, tier: Tier, complex_local: bool | None) -> tuple[str, float] | None:
    """The route whose share leaves the box under the default strategy, and its target share
    (routing.need_shares; None: no target shares)."""
    targets = catalog.routing.need_shares.get(catalog.routing.default_strategy)
    if not targets:
        return None
    has_complex = local_roles(tier).complex is not None if complex_local is None else complex_local
    route = "large" if has_complex else "medium"
    return route, float(targets.get(route, 0.0))  # type: ignore[call-overload]


def router_share(
    catalog: Catalog, tier: Tier, complex_local: bool | None = None, traffic: str | None = None
) -> RouterShare | None:
    """What the rendered policy does on this tier: the need model sends the catalog's target
    share past the small local model (to the complex local model where the tier has one, so
    only the large route's share leaves the box), the rest stays local. None: no target shares.
    complex_local: whether the plan serves complex requests locally (default: the tier has a
    complex-role model). traffic: the kind of requests measured, for how many of them cross the
    thresholds and what those cloud calls recover (default: the catalog's routing.traffic).
    """
    target = _target(catalog, tier, complex_local)
    if target is None:
        return None
    route, cloud = target
    strategy = str(catalog.routing.default_strategy)
    found = catalog.routing.curve_for(traffic)
    if found is None:
        source = (
            f"the router's {strategy} operating point: {cloud:.0%} of requests to the {route} "
            "route by need (tiers.yaml routing.need_shares)"
        )
        return RouterShare(strategy, 1.0 - cloud, cloud, None, QUALITY_TARGET, None, source)
    kind, curve = found
    routed = routed_share(curve, cloud)
    source = (
        f"the router's {strategy} operating point on {kind}: the thresholds set for {cloud:.0%} "
        f"of requests to the {route} route by need (tiers.yaml routing.need_shares) send "
        f"{routed:.0%} of them ({curve.source.ref}, {curve.source.as_of})"
    )
    recovered = gap_recovered(curve, routed)
    return RouterShare(
        strategy=strategy,
        local_share=1.0 - routed,
        cloud_share=routed,
        gap_recovered=recovered,
        quality_target=QUALITY_TARGET,
        cloud_for_quality=cloud_for_quality(curve),
        source=source,
        traffic=kind,
        near_chance=abs(recovered - routed) < CHANCE_MARGIN,
    )


def local_cap(
    catalog: Catalog, tier: Tier, complex_local: bool, traffic: str | None = None
) -> float:
    """The most of a workload the tier keeps local: what the router's thresholds leave local of
    this kind of traffic, else the tier's promise."""
    target = _target(catalog, tier, complex_local)
    if target is None:
        return tier.promises.local_share
    found = catalog.routing.curve_for(traffic)
    return 1.0 - (routed_share(found[1], target[1]) if found else target[1])
