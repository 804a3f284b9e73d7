"""Hetzner's prices, from its Cloud API's server types (per-location monthly price, EUR, net)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridctl.providers.base import required_variable
from hybridctl.providers.hetzner import TOKEN_ENV
from hybridctl.providers.prices import (
    Fetcher,
    FetchResult,
    PricedOffer,
    PriceFetchError,
    Transport,
    Wanted,
    monthly_usd,
    require,
    shape_note,
    urllib_transport,
)

URL = "https://api.hetzner.cloud/v1/server_types"
_PER_PAGE = 50
_MAX_PAGES = 20


def token_from(environ: Mapping[str, str]) -> str:
    """The API token from the environment, or the error naming the variable."""
    return required_variable(
        environ,
        TOKEN_ENV,
        "Credentials to read Hetzner's prices",
        "Create a read-only API token in the Hetzner Cloud Console (a project's Security > "
        f"API tokens) and export it as {TOKEN_ENV}.",
    )


def server_types(token: str, transport: Transport | None = None) -> list[dict[str, Any]]:
    """Every server type the API lists (all pages)."""
    get = transport or urllib_transport()
    headers = {"Authorization": f"Bearer {token}"}
    found: list[dict[str, Any]] = []
    page: int | None = 1
    for _ in range(_MAX_PAGES):
        if page is None:
            break
        answer = get(f"{URL}?page={page}&per_page={_PER_PAGE}", headers)
        items = require(answer, "server_types", list, f"GET {URL}")
        found.extend(item for item in items if isinstance(item, dict))
        meta = answer.get("meta") if isinstance(answer, dict) else None
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        following = pagination.get("next_page") if isinstance(pagination, dict) else None
        page = following if isinstance(following, int) and following > page else None
    return found


def price_offers(
    wanted: Sequence[Wanted],
    types: list[dict[str, Any]],
    *,
    usd_per_eur: float,
    as_of: str,
) -> FetchResult:
    """Each wanted offer priced at its location's `price_monthly.net` (EUR, excluding VAT)."""
    by_name = {str(item.get("name")): item for item in types}
    result = FetchResult()
    for offer in wanted:
        item = by_name.get(offer.instance_type)
        if item is None:
            result.missing.append((offer, "Hetzner's API lists no server type of that name"))
            continue
        prices = require(item, "prices", list, f"GET {URL}: server type {offer.instance_type}")
        here = [p for p in prices if isinstance(p, dict) and p.get("location") == offer.region]
        if not here:
            result.missing.append((offer, f"not sold in {offer.region}"))
            continue
        where = f"GET {URL}: {offer.instance_type} in {offer.region}"
        net = require(require(here[0], "price_monthly", dict, where), "net", str, where)
        try:
            eur = float(net)
        except ValueError:
            raise PriceFetchError(f"{where}: price_monthly.net is {net!r}, not a number") from None
        vcpu, ram = float(item.get("cores") or 0), float(item.get("memory") or 0)
        note = shape_note(offer, vcpu, ram) if vcpu and ram else None
        if note:
            result.notes.append(note)
        result.priced.append(
            PricedOffer(
                provider="hetzner",
                instance_type=offer.instance_type,
                region=offer.region,
                vcpu=vcpu or offer.vcpu,
                ram_gib=ram or offer.ram_gib,
                gpu=None,
                price=round(eur, 4),
                currency="EUR",
                unit="month",
                usd_per_eur=usd_per_eur,
                monthly_usd=monthly_usd(eur, "EUR", "month", usd_per_eur),
                source=f"Hetzner Cloud API, GET {URL}",
                detail=(
                    f"{offer.instance_type} in {offer.region}: price_monthly.net EUR {eur:.2f} "
                    f"excl. VAT at {usd_per_eur:g} USD/EUR"
                ),
                as_of=as_of,
            )
        )
    return result


def fetcher(environ: Mapping[str, str]) -> Fetcher:
    """Hetzner's fetcher, with the API token from environ."""
    token = token_from(environ)
    return lambda wanted, rate, day: fetch(wanted, token=token, usd_per_eur=rate, as_of=day)


def fetch(
    wanted: Sequence[Wanted],
    *,
    token: str,
    usd_per_eur: float,
    as_of: str,
    transport: Transport | None = None,
) -> FetchResult:
    """Price the wanted Hetzner offers from the Cloud API (one call per page of server types)."""
    return price_offers(
        wanted, server_types(token, transport), usd_per_eur=usd_per_eur, as_of=as_of
    )
