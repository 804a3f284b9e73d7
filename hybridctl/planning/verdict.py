"""The honest answer first: a box, or stay on the cloud, and from which volume a box pays."""

from __future__ import annotations

from hybridctl.catalog.schema import Catalog
from hybridctl.planning.cost import cloud_only_spend
from hybridctl.planning.options import Beats, Option, Speeds, all_options, cheapest
from hybridctl.planning.results import Verdict
from hybridctl.planning.workload import MAX_NODES, MAX_REQUESTS_PER_DAY, Workload

SCAN_STEP = 1.25  # volumes tried grow by a quarter each step, then bisection refines
_BISECTIONS = 12


def pays_from(catalog: Catalog, workload: Workload, speeds: Speeds) -> tuple[float, Option] | None:
    """The lowest volume (requests/day, this traffic's shape, no budget, no node ceiling) at or
    above the workload's at which the cheapest box costs less than the cloud, with that box;
    None below the volume bound. A geometric scan, then bisection between the last losing and
    first paying volume; the box is priced in full only there."""
    shape = workload.model_copy(update={"monthly_budget_usd": None, "max_nodes": MAX_NODES})
    beats = Beats(catalog, shape, speeds)

    def pays(volume: float) -> bool:
        cloud = cloud_only_spend(catalog, shape.at_volume(volume)).monthly_usd
        return beats(volume, cloud)

    volume, previous = workload.requests_per_day, None
    while volume <= MAX_REQUESTS_PER_DAY:
        if pays(volume):
            if previous is not None:
                low, high = previous, volume
                for _ in range(_BISECTIONS):
                    mid = (low + high) / 2
                    if pays(mid):
                        high = mid
                    else:
                        low = mid
                volume = high
            there = shape.at_volume(volume)
            best = cheapest(all_options(catalog, there, speeds), catalog)
            if best is None:  # cannot happen: Beats answers as the priced options do
                raise RuntimeError(f"no option found where a box pays ({volume:g} requests/day)")
            return volume, best
        previous = volume
        if volume == MAX_REQUESTS_PER_DAY:
            break
        volume = min(MAX_REQUESTS_PER_DAY, volume * SCAN_STEP)
    return None


def _volume(per_day: float) -> str:
    return f"{per_day:,.0f}" if per_day >= 10 else f"{per_day:.2g}"


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _beyond_ceiling(
    options: list[Option], within: Option | None, cloud_usd: float, workload: Workload
) -> str | None:
    """The cheapest option that needs more boxes than allowed, if it beats what is allowed."""
    capped = [o for o in options if o.candidate.reason.startswith("nodes:")]
    if not capped:
        return None
    best = min(capped, key=lambda o: o.bill.hybrid_usd)
    if within is not None and within.bill.hybrid_usd <= best.bill.hybrid_usd:
        return None
    c = best.candidate
    compare = "less" if best.bill.hybrid_usd < cloud_usd else "more"
    return (
        f"{c.label} would carry it for {_money(best.bill.hybrid_usd)}/month ({compare} than "
        f"the cloud's {_money(cloud_usd)}); allow it with --max-nodes {c.nodes}"
        + (" (the ceiling is yours to set)" if c.nodes > workload.max_nodes else "")
    )


def verdict(
    catalog: Catalog,
    workload: Workload,
    best: Option | None,
    options: list[Option],
    cloud_only_usd: float,
    speeds: Speeds,
) -> Verdict:
    per_day = f"{_volume(workload.requests_per_day)} requests/day"
    beyond = _beyond_ceiling(options, best, cloud_only_usd, workload)
    if best is not None and best.bill.hybrid_usd < cloud_only_usd:
        c = best.candidate
        saved = cloud_only_usd - best.bill.hybrid_usd
        even = best.bill.break_even_requests_per_day
        return Verdict(
            answer="hybrid",
            headline=(
                f"A box pays: {c.label} costs {_money(best.bill.hybrid_usd)}/month with its "
                f"cloud spill, against {_money(cloud_only_usd)} on the cloud alone "
                f"(saves {_money(saved)}, {saved / cloud_only_usd:.0%})."
            ),
            cloud_only_usd=cloud_only_usd,
            hybrid_usd=best.bill.hybrid_usd,
            hybrid_pays_from_requests_per_day=even,
            pays_from_option=c.label,
            beyond_ceiling=beyond,
        )
    if best is not None and workload.local_only:
        c = best.candidate
        return Verdict(
            answer="hybrid",
            headline=(
                f"Local only: {c.label} costs {_money(best.bill.hybrid_usd)}/month; the cloud "
                f"routes would cost {_money(cloud_only_usd)}, but --local-only rules them out."
            ),
            cloud_only_usd=cloud_only_usd,
            hybrid_usd=best.bill.hybrid_usd,
            hybrid_pays_from_requests_per_day=best.bill.break_even_requests_per_day,
            pays_from_option=c.label,
            beyond_ceiling=beyond,
        )
    if best is None:
        if workload.local_only:
            return Verdict(
                answer="none",
                headline=(
                    f"Nothing answers: no box carries {per_day} within the limits given (see "
                    "each option's reason), and --local-only rules out the cloud routes "
                    f"({_money(cloud_only_usd)}/month)."
                ),
                cloud_only_usd=cloud_only_usd,
                hybrid_usd=None,
                hybrid_pays_from_requests_per_day=None,
                pays_from_option=None,
                beyond_ceiling=beyond,
            )
        lead = (
            f"Stay on the cloud: no box carries {per_day} within the limits given; the "
            f"cloud routes cost {_money(cloud_only_usd)}/month."
        )
    else:
        lead = (
            f"Stay on the cloud: at {per_day} the cloud routes cost {_money(cloud_only_usd)}/month;"
            f" the cheapest box that carries it, {best.candidate.label}, costs "
            f"{_money(best.bill.hybrid_usd)}/month with its cloud spill."
        )
    found = pays_from(catalog, workload, speeds)
    if found is None:
        tail = (
            f" No box pays at any volume up to {MAX_REQUESTS_PER_DAY:,} requests/day at these "
            "prices and this traffic shape."
        )
        volume, label = None, None
    else:
        volume, option = found
        label = option.candidate.label
        tail = (
            f" A box starts paying from about {_volume(volume)} requests/day ({label}, "
            f"{_money(option.bill.hybrid_usd)}/month there)."
        )
    return Verdict(
        answer="cloud",
        headline=lead + tail,
        cloud_only_usd=cloud_only_usd,
        hybrid_usd=best.bill.hybrid_usd if best else None,
        hybrid_pays_from_requests_per_day=volume,
        pays_from_option=label,
        beyond_ceiling=beyond,
    )
