"""AWS's prices, from the Price List Query API (boto3 `pricing` GetProducts, EC2 On-Demand)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hybridctl.providers.base import missing_credentials
from hybridctl.providers.prices import (
    Fetcher,
    FetchResult,
    PricedOffer,
    PriceFetchError,
    Wanted,
    monthly_usd,
    require,
    shape_note,
)

# The Price List Query API answers only in us-east-1 (and two other regions), for every region.
ENDPOINT_REGION = "us-east-1"
SOURCE = "AWS Price List Query API, GetProducts (https://api.pricing.us-east-1.amazonaws.com)"
CREDENTIAL_VARIABLES = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
_MAX_PAGES = 10


def client_from_environment() -> Any:
    """A boto3 `pricing` client with the default credential chain, or a clear error."""
    from hybridctl.extras import require_extra

    require_extra("prices")
    import boto3

    session = boto3.Session()
    if session.get_credentials() is None:
        raise missing_credentials(
            CREDENTIAL_VARIABLES,
            "Credentials to read AWS's prices",
            "Any IAM identity allowed pricing:GetProducts will do (the policy "
            "AWSPriceListServiceFullAccess, or that one action).",
        )
    return session.client("pricing", region_name=ENDPOINT_REGION)


def filters(offer: Wanted) -> list[dict[str, str]]:
    """The attributes that pick one Linux, shared-tenancy, On-Demand product of the offer."""
    terms = {
        "instanceType": offer.instance_type,
        "regionCode": offer.region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def products(client: Any, offer: Wanted) -> list[dict[str, Any]]:
    """The price list items GetProducts answers for the offer (each item is a JSON string)."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "ServiceCode": "AmazonEC2",
        "Filters": filters(offer),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    for _ in range(_MAX_PAGES):
        answer = _call(client, request, offer)
        for item in require(answer, "PriceList", list, f"GetProducts for {offer.label}"):
            try:
                found.append(json.loads(item) if isinstance(item, str) else item)
            except ValueError:
                raise PriceFetchError(
                    f"GetProducts for {offer.label}: a PriceList item is not JSON"
                ) from None
        token = answer.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    return found


def _call(client: Any, request: dict[str, Any], offer: Wanted) -> Any:
    try:
        return client.get_products(**request)
    except Exception as exc:  # botocore's errors, without importing botocore here
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            raise missing_credentials(
                CREDENTIAL_VARIABLES, "Credentials to read AWS's prices", str(exc)
            ) from None
        raise PriceFetchError(f"GetProducts for {offer.label} failed: {name}: {exc}") from None


def on_demand_hourly(item: dict[str, Any], where: str) -> float:
    """The USD per hour of an item's On-Demand term (its one price dimension in hours)."""
    terms = require(require(item, "terms", dict, where), "OnDemand", dict, where)
    rates = set()
    for term in terms.values():
        dimensions = require(term, "priceDimensions", dict, where)
        for dimension in dimensions.values():
            unit = dimension.get("unit") if isinstance(dimension, dict) else None
            usd = require(require(dimension, "pricePerUnit", dict, where), "USD", str, where)
            if unit == "Hrs":
                try:
                    rates.add(float(usd))
                except ValueError:
                    raise PriceFetchError(f"{where}: pricePerUnit.USD is {usd!r}") from None
    positive = {rate for rate in rates if rate > 0}
    if len(positive) != 1:
        raise PriceFetchError(
            f"{where}: expected one hourly On-Demand price, found {sorted(rates)}"
        )
    return positive.pop()


def price_offer(offer: Wanted, items: list[dict[str, Any]], as_of: str) -> PricedOffer | str:
    """The offer priced from its GetProducts items, or why it could not be."""
    if not items:
        return "GetProducts found no Linux On-Demand product of that type in that region"
    where = f"GetProducts for {offer.label}"
    hourly = {on_demand_hourly(item, where) for item in items}
    if len(hourly) != 1:
        return f"GetProducts found {len(items)} products with different prices {sorted(hourly)}"
    rate = hourly.pop()
    attributes = require(require(items[0], "product", dict, where), "attributes", dict, where)
    vcpu = float(attributes.get("vcpu") or offer.vcpu)
    ram = float(str(attributes.get("memory") or offer.ram_gib).split()[0].replace(",", ""))
    gpu = offer.gpu_model if offer.gpu_count else None
    return PricedOffer(
        provider="aws",
        instance_type=offer.instance_type,
        region=offer.region,
        vcpu=vcpu,
        ram_gib=ram,
        gpu=gpu,
        price=rate,
        currency="USD",
        unit="hour",
        usd_per_eur=None,
        monthly_usd=monthly_usd(rate, "USD", "hour", None),
        source=SOURCE,
        detail=(
            f"{offer.instance_type} in {offer.region}, Linux, shared tenancy, On-Demand: "
            f"${rate:g}/h x 730 h"
        ),
        as_of=as_of,
    )


def fetcher(environ: Mapping[str, str]) -> Fetcher:
    """AWS's fetcher: a Price List client from boto3's own credential chain (USD prices)."""
    client = client_from_environment()
    return lambda wanted, rate, day: fetch(wanted, client=client, as_of=day)


def fetch(wanted: Sequence[Wanted], *, client: Any, as_of: str) -> FetchResult:
    """Price the wanted AWS offers, one GetProducts query each."""
    result = FetchResult()
    for offer in wanted:
        priced = price_offer(offer, products(client, offer), as_of)
        if isinstance(priced, str):
            result.missing.append((offer, priced))
            continue
        note = shape_note(offer, priced.vcpu, priced.ram_gib)
        if note:
            result.notes.append(note)
        result.priced.append(priced)
    return result
