"""GCP's prices, from the Cloud Billing Catalog API's Compute Engine SKUs (vCPU, RAM and GPU)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridctl.providers.base import required_variable
from hybridctl.providers.prices import (
    Fetcher,
    FetchResult,
    PricedOffer,
    PriceFetchError,
    Transport,
    Wanted,
    monthly_usd,
    require,
    urllib_transport,
)

COMPUTE_ENGINE = "6F81-5844-456A"  # the service id of Compute Engine in the catalog
URL = f"https://cloudbilling.googleapis.com/v1/services/{COMPUTE_ENGINE}/skus"
KEY_ENV = "GCP_BILLING_API_KEY"
_PAGE_SIZE = 5000  # the most the API gives in one page
_MAX_PAGES = 20

# The words a machine series' vCPU and RAM SKUs start with ("E2 Instance Core running in ...").
SERIES = {
    "e2": "E2 Instance",
    "n1": "N1 Predefined Instance",
    "n2": "N2 Instance",
    "n2d": "N2D AMD Instance",
    "c3": "C3 Instance",
    "g2": "G2 Instance",
}
# Shared-core E2 types are billed for a fraction of their vCPUs
# (https://cloud.google.com/compute/vm-instance-pricing, "E2 shared-core machine types").
SHARED_CORE = {"e2-micro": 0.25, "e2-small": 0.5, "e2-medium": 1.0}
_SKIP = ("custom", "premium", "reserved", "sole tenancy", "extended", "virtual workstation")


def key_from(environ: Mapping[str, str]) -> str:
    """The API key from the environment, or the error naming the variable."""
    return required_variable(
        environ,
        KEY_ENV,
        "Credentials to read GCP's prices",
        "Create an API key in a project with the Cloud Billing API enabled (APIs & Services >"
        f" Credentials) and export it as {KEY_ENV}; the catalog's public prices need no more.",
    )


def skus(api_key: str, transport: Transport | None = None) -> list[dict[str, Any]]:
    """Every public Compute Engine SKU, priced in USD (all pages). The key goes in a header."""
    get = transport or urllib_transport(timeout_s=120)
    headers = {"X-Goog-Api-Key": api_key}
    found: list[dict[str, Any]] = []
    token = ""
    for _ in range(_MAX_PAGES):
        query = f"currencyCode=USD&pageSize={_PAGE_SIZE}" + (f"&pageToken={token}" if token else "")
        answer = get(f"{URL}?{query}", headers)
        found.extend(s for s in require(answer, "skus", list, f"GET {URL}") if isinstance(s, dict))
        token = str(answer.get("nextPageToken") or "")
        if not token:
            break
    return found


def unit_price(sku: dict[str, Any]) -> float:
    """USD per unit of a SKU's current price (its first tier: units + nanos / 1e9)."""
    where = f"GET {URL}: SKU {sku.get('skuId') or sku.get('description')!r}"
    info = require(sku, "pricingInfo", list, where)
    if not info:
        raise PriceFetchError(f"{where}: pricingInfo is empty")
    expression = require(info[0], "pricingExpression", dict, where)
    tiers = require(expression, "tieredRates", list, where)
    if not tiers:
        raise PriceFetchError(f"{where}: tieredRates is empty")
    price = require(tiers[-1], "unitPrice", dict, where)
    try:
        return int(price.get("units") or 0) + int(price.get("nanos") or 0) / 1e9
    except (TypeError, ValueError):
        raise PriceFetchError(f"{where}: unitPrice is not units and nanos") from None


def _on_demand_in(sku: dict[str, Any], region: str) -> bool:
    category = sku.get("category")
    if not isinstance(category, dict):
        return False
    description = str(sku.get("description", "")).lower()
    return (
        category.get("usageType") == "OnDemand"
        and region in (sku.get("serviceRegions") or [])
        and not any(word in description for word in _SKIP)
    )


def _one(matches: list[dict[str, Any]], what: str) -> float | str:
    prices = {round(unit_price(s), 9) for s in matches}
    if not prices:
        return f"no on-demand SKU for {what}"
    if len(prices) > 1:
        return f"several SKUs for {what} with different prices {sorted(prices)}"
    return prices.pop()


def _gpu_price(skus: list[dict[str, Any]], offer: Wanted) -> float | str:
    name = (offer.gpu_model or "").split()[-1].lower()  # "NVIDIA T4" -> "t4"
    return _one(
        [
            s
            for s in skus
            if _on_demand_in(s, offer.region)
            and s.get("category", {}).get("resourceGroup") == "GPU"
            and name in str(s.get("description", "")).lower().split()
        ],
        f"the {offer.gpu_model} GPU in {offer.region}",
    )


def price_offer(skus: list[dict[str, Any]], offer: Wanted, as_of: str) -> PricedOffer | str:
    """vCPU x core SKU + GiB x RAM SKU (+ GPUs x GPU SKU), per hour, or why it cannot be."""
    series = offer.instance_type.split("-")[0]
    prefix = SERIES.get(series)
    if prefix is None:
        return f"hybridctl does not know the SKU names of the {series} series"
    local = [
        s
        for s in skus
        if _on_demand_in(s, offer.region)
        and s.get("category", {}).get("resourceGroup") != "GPU"
        and str(s.get("description", "")).lower().startswith(prefix.lower())
    ]
    core = _one([s for s in local if " core " in f" {s['description'].lower()} "], "vCPUs")
    ram = _one([s for s in local if " ram " in f" {s['description'].lower()} "], "RAM")
    gpu: float | str = 0.0
    if offer.gpu_count:
        gpu = _gpu_price(skus, offer)
    for part in (core, ram, gpu):
        if isinstance(part, str):
            return f"{part} ({prefix} in {offer.region})"
    assert isinstance(core, float) and isinstance(ram, float) and isinstance(gpu, float)
    vcpus = SHARED_CORE.get(offer.instance_type, offer.vcpu)
    hourly = round(vcpus * core + offer.ram_gib * ram + offer.gpu_count * gpu, 9)
    parts = f"{vcpus:g} vCPU x ${core:g} + {offer.ram_gib:g} GiB x ${ram:g}"
    if offer.gpu_count:
        parts += f" + {offer.gpu_count} x {offer.gpu_model} ${gpu:g}"
    return PricedOffer(
        provider="gcp",
        instance_type=offer.instance_type,
        region=offer.region,
        vcpu=offer.vcpu,
        ram_gib=offer.ram_gib,
        gpu=offer.gpu_model if offer.gpu_count else None,
        price=hourly,
        currency="USD",
        unit="hour",
        usd_per_eur=None,
        monthly_usd=monthly_usd(hourly, "USD", "hour", None),
        source=f"Google Cloud Billing Catalog API, GET {URL}",
        detail=f"{offer.instance_type} in {offer.region}: {parts} = ${hourly:g}/h x 730 h",
        as_of=as_of,
    )


def fetcher(environ: Mapping[str, str]) -> Fetcher:
    """GCP's fetcher, with the Cloud Billing API key from environ (USD prices)."""
    api_key = key_from(environ)
    return lambda wanted, rate, day: fetch(wanted, api_key=api_key, as_of=day)


def fetch(
    wanted: Sequence[Wanted],
    *,
    api_key: str,
    as_of: str,
    transport: Transport | None = None,
) -> FetchResult:
    """Price the wanted GCP offers from the Compute Engine SKUs (read once for all of them)."""
    listed = skus(api_key, transport)
    result = FetchResult()
    for offer in wanted:
        priced = price_offer(listed, offer, as_of)
        if isinstance(priced, str):
            result.missing.append((offer, priced))
        else:
            result.priced.append(priced)
    return result
