"""The VPS tier selection guide's decision tree, its questions as inputs, and how it compares."""

from __future__ import annotations

from hybridctl.planning.results import Candidate
from hybridctl.planning.workload import Workload


def guide_decision(
    requests_per_day: float,
    *,
    learning: bool = False,
    quality: bool = False,
    sub_second: bool = False,
) -> tuple[str, str]:
    """(tier, why) as the tree walks: volume, then "just learning?", "better quality answers?"
    (Tier 2 -> 3) and "sub-second response needed?" (Tier 3 -> 4)."""
    if requests_per_day < 50:
        if learning:
            return "1", "under 50 requests/day and just learning: Tier 1"
        tier, why = "2", "under 50 requests/day, production: Tier 2"
    elif requests_per_day <= 500:
        tier, why = "2", "50-500 requests/day: Tier 2"
    elif requests_per_day <= 5000:
        tier, why = "3", "500-5,000 requests/day: Tier 3"
    else:
        return "4", "over 5,000 requests/day: Tier 4"
    if tier == "2":
        if not quality:
            return tier, why
        tier, why = "3", why.replace(": Tier 2", "") + ", better quality answers: Tier 3"
    if sub_second:
        return "4", why.replace(": Tier 3", "") + ", sub-second responses: Tier 4"
    return tier, why


def workload_decision(workload: Workload) -> tuple[str, str]:
    return guide_decision(
        workload.requests_per_day,
        learning=workload.learning,
        quality=workload.quality,
        sub_second=workload.sub_second,
    )


def guide_note(
    guide_tier: str,
    guide_reason: str,
    chosen_tier: str | None,
    considered: list[Candidate],
    cloud_only_usd: float,
) -> str:
    """How the tree's pick compares with what the plan found (cheapest tier, or the cloud)."""
    rows = [c for c in considered if c.tier == guide_tier]
    if not rows:
        return f"The tier guide's decision tree picks Tier {guide_tier} ({guide_reason})."
    if guide_tier == chosen_tier:
        return f"The tier guide's decision tree agrees ({guide_reason})."
    feasible = [c for c in rows if c.feasible and c.hybrid_usd is not None]
    if not feasible:
        why = next(
            (
                c.reason
                for c in rows
                if c.reason.startswith(("capacity", "latency", "budget", "nodes", "--quality"))
            ),
            rows[0].reason if rows else "it has no feasible offer",
        )
        return (
            f"The tier guide's decision tree picks Tier {guide_tier} ({guide_reason}), "
            f"but it does not carry this workload: {why}."
        )
    cheapest = min(feasible, key=lambda c: c.hybrid_usd or 0.0)
    against = (
        f"the cloud-only ${cloud_only_usd:,.2f}"
        if chosen_tier is None
        else f"${_tier_cost(considered, chosen_tier):,.2f} for Tier {chosen_tier}"
    )
    return (
        f"The tier guide's decision tree picks Tier {guide_tier} ({guide_reason}); it also "
        f"carries the workload, but costs ${cheapest.hybrid_usd:,.2f}/month on its cheapest "
        f"provider ({cheapest.provider}) against {against}."
    )


def _tier_cost(considered: list[Candidate], tier_id: str) -> float:
    costs = [c.hybrid_usd for c in considered if c.tier == tier_id and c.feasible and c.hybrid_usd]
    return min(costs, default=0.0)
