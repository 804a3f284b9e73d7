"""The share of requests the gateway's router keeps on a tier's box, and what quality costs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, NeedCurve, Routing, Tier
from hybridctl.errors import InputError
from hybridctl.suggest import close_matches

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
    traffic: str | None = None  # the kind of requests the curve was measured on


def need_curve(routing: Routing, traffic: str | None = None) -> tuple[str, NeedCurve] | None:
    """The cost-quality curve of a kind of traffic (default: the catalog's), with its name.
    None: the catalog has no curves."""
    kind = traffic or routing.traffic
    if not routing.need_curves or kind is None:
        return None
    if kind not in routing.need_curves:
        kinds = list(routing.need_curves)
        guess = close_matches(kind, kinds)
        raise InputError(
            f"no cost-quality curve for traffic {kind!r}"
            + (f" (did you mean {guess}?)" if guess else ""),
            hint=f"The catalog's kinds of traffic (routing.need_curves): {', '.join(kinds)}.",
        )
    return kind, routing.need_curves[kind]


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


def router_share(
    catalog: Catalog, tier: Tier, complex_local: bool | None = None, traffic: str | None = None
) -> RouterShare | None:
    """What the rendered policy does on this tier: the need model sends the catalog's target
    share past the small local model (to the complex local model where the tier has one, so
    only the large route's share leaves the box), the rest stays local. None: no target shares.
    complex_local: whether the plan serves complex requests locally (default: the tier has a
    complex-role model). traffic: the kind of requests whose cost-quality curve says what those
    cloud calls recover (default: the catalog's routing.traffic).
    """
    routing = catalog.routing
    strategy = str(routing.default_strategy)
    targets = routing.need_shares.get(routing.default_strategy)
    if not targets:
        return None
    has_complex = local_roles(tier).complex is not None if complex_local is None else complex_local
    route = "large" if has_complex else "medium"
    cloud = float(targets.get(route, 0.0))  # type: ignore[call-overload]
    found = need_curve(routing, traffic)
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
    return RouterShare(
        strategy=strategy,
        local_share=1.0 - routed,
        cloud_share=routed,
        gap_recovered=gap_recovered(curve, routed),
        quality_target=QUALITY_TARGET,
        cloud_for_quality=cloud_for_quality(curve),
        source=source,
        traffic=kind,
    )


def local_cap(
    catalog: Catalog, tier: Tier, complex_local: bool, traffic: str | None = None
) -> float:
    """The most of a workload the tier keeps local: the router's share on this kind of traffic,
    else the tier's promise."""
    share = router_share(catalog, tier, complex_local, traffic)
    return share.local_share if share is not None else tier.promises.local_share
