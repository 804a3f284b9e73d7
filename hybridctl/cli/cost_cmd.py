"""`hybridctl cost`: the plan's bill and verdict for a guide scenario, beside the guide's own."""

from __future__ import annotations

from typing import Annotated

import typer

from hybridctl.cli.options import CatalogOption, JsonOption, bounded
from hybridctl.cli.output import print_json
from hybridctl.errors import UsageError
from hybridctl.planning.limits import DAYS_PER_MONTH, MAX_BUDGET_USD, MAX_REQUESTS_PER_DAY
from hybridctl.suggest import close_matches


def cost(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier", "-t", help="The guide's scenario for this tier (default: all four)."
        ),
    ] = None,
    requests_per_month: Annotated[
        float | None,
        bounded(
            "--requests-per-month",
            low=0,
            above=True,
            high=MAX_REQUESTS_PER_DAY * DAYS_PER_MONTH,
            metavar="N",
            help="Override the scenario's requests a month.",
        ),
    ] = None,
    local_share: Annotated[
        float | None,
        bounded(
            "--local-share",
            low=0,
            high=1,
            metavar="F",
            help="Override the share served locally (0-1).",
        ),
    ] = None,
    server: Annotated[
        float | None,
        bounded(
            "--server-usd",
            low=0,
            high=MAX_BUDGET_USD,
            metavar="USD",
            help="Override the server's monthly price in the guide's column (the plan "
            "prices the catalog's offers).",
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hybrid against cloud-only for the tier guide's Cost-Benefit scenarios, priced as
    `recommend` prices them.

    For each scenario's traffic (requests a month; the requests the guide does not serve
    locally count as complex) it prints the verdict `recommend` gives for the same traffic, the
    bill of the scenario's tier on its cheapest offer (the provider's price, the route mix and
    token prices of the cloud routes, the box's capacity), and beside it the guide's own figure
    (e.g. Tier 2 at 10,000 requests a month: cloud-only $660, hybrid $502) with why the two
    differ. Override any input to see your own.

    Example: hybridctl cost --tier 2 --requests-per-month 25000
    """
    from hybridctl.catalog import load_catalog

    cat = load_catalog(catalog)
    scenarios = cat.cost_scenarios
    if tier is not None:
        scenarios = [s for s in scenarios if s.tier == tier]
        if not scenarios:
            known = [s.tier for s in cat.cost_scenarios]
            guess = close_matches(tier, known)
            raise UsageError(
                f"no cost scenario for tier {tier!r}"
                + (f"; did you mean {guess}?" if guess else ""),
                hint=f"Scenarios exist for tiers {', '.join(known)}.",
            )
    if requests_per_month is not None and requests_per_month <= 0:
        raise UsageError("--requests-per-month must be greater than 0")
    from hybridctl.planning.one_verdict import scenario_verdict

    results = [
        scenario_verdict(
            cat,
            s,
            requests_per_month=requests_per_month,
            local_share=local_share,
            server_usd=server,
        )
        for s in scenarios
    ]
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    from hybridctl.cli.views.cost import print_scenarios

    print_scenarios(results)
