"""A priced offer as a cloud's own price source gives it, and what every price fetcher shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hybridctl.errors import OperationFailed

HOURS_PER_MONTH = 730  # the month the providers' own monthly figures use (24 x 365 / 12)

# url, headers -> the parsed JSON answer. Tests pass one that replays recorded answers.
Transport = Callable[[str, Mapping[str, str]], Any]


@dataclass(frozen=True)
class Wanted:
    """One offer of the catalog to price: the machine, where, and the GPUs it carries."""

    provider: str
    instance_type: str
    region: str
    vcpu: float
    ram_gib: float
    gpu_model: str | None = None  # the tier's GPU, e.g. "NVIDIA T4"
    gpu_count: int = 0

    @property
    def label(self) -> str:
        return f"{self.provider} {self.instance_type} ({self.region})"


@dataclass(frozen=True)
class PricedOffer:
    """One offer priced from a provider's price source, with where and when it was read."""

    provider: str
    instance_type: str
    region: str
    vcpu: float
    ram_gib: float
    gpu: str | None
    price: float  # in `currency` per `unit`, as the source gives it
    currency: str  # "USD" or "EUR"
    unit: str  # "month" or "hour"
    usd_per_eur: float | None  # the rate used when currency is EUR
    monthly_usd: float
    source: str  # the address that was read
    detail: str  # how the price was read or composed, in words
    as_of: str  # YYYY-MM-DD, the day it was fetched

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FetchResult:
    """What one fetcher priced, and the offers it could not price (with why)."""

    priced: list[PricedOffer] = field(default_factory=list)
    missing: list[tuple[Wanted, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the provider's shape differs


class PriceFetchError(OperationFailed):
    """A price source could not be read, or answered in a shape it does not document (exit 1)."""


def monthly_usd(price: float, currency: str, unit: str, usd_per_eur: float | None) -> float:
    """A price per month or hour, in USD or EUR, as USD per month (730 hours)."""
    months = price * HOURS_PER_MONTH if unit == "hour" else price
    if currency == "USD":
        return round(months, 2)
    if currency == "EUR" and usd_per_eur:
        return round(months * usd_per_eur, 2)
    raise PriceFetchError(f"no exchange rate to turn {currency} into USD")


def shape_note(wanted: Wanted, vcpu: float, ram_gib: float) -> str | None:
    """A note when the provider's vCPUs or RAM differ from the catalog's for the same machine."""
    if abs(vcpu - wanted.vcpu) < 1e-6 and abs(ram_gib - wanted.ram_gib) < 0.05:
        return None
    return (
        f"{wanted.label}: the provider lists {vcpu:g} vCPU / {ram_gib:g} GiB, "
        f"the catalog {wanted.vcpu:g} vCPU / {wanted.ram_gib:g} GiB (the catalog's are kept)"
    )


def urllib_transport(timeout_s: float = 30.0) -> Transport:
    """A transport over the standard library: GET, parse JSON, turn failures into clear errors.

    Error messages name the address without its query and never the request's headers, which
    carry the credentials.
    """
    import urllib.error
    import urllib.request

    def get(url: str, headers: Mapping[str, str]) -> Any:
        address = url.split("?", 1)[0]
        request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                body = answer.read()
        except urllib.error.HTTPError as exc:
            raise PriceFetchError(
                f"GET {address} answered HTTP {exc.code}: {_error_text(exc.read())}",
                hint=_status_hint(exc.code),
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PriceFetchError(f"GET {address} failed: {reason}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise PriceFetchError(f"GET {address} did not answer JSON") from None

    return get


def _error_text(body: bytes) -> str:
    """The message of an API's JSON error body ({"error": {"message": ...}}), else its start."""
    try:
        data = json.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    except ValueError:
        pass
    return body.decode("utf-8", "replace").strip()[:300] or "(no message)"


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "The credential was refused: check that it is valid and allowed to read prices."
    if status == 429:
        return "The provider limits how often it may be asked: wait a minute and run it again."
    return None


def require(data: Any, key: str, kind: type, where: str) -> Any:
    """data[key] when it is a `kind`, else a PriceFetchError naming the field and the answer."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind):
        raise PriceFetchError(
            f"{where}: the field {key!r} is missing or not a {kind.__name__}; the answer is "
            "not in the shape the provider documents",
            hint="Run it again later; if it persists, the provider changed its API: report it.",
        )
    return value


# (offers, USD per EUR, day) -> what the cloud's price source says about them.
Fetcher = Callable[[Sequence[Wanted], float, str], FetchResult]


def priced_clouds() -> tuple[str, ...]:
    """The registry's clouds whose package has a price fetcher (`<cloud>/prices.py`)."""
    from importlib.util import find_spec

    from hybridctl.providers.names import CLOUDS

    return tuple(c for c in CLOUDS if find_spec(f"hybridctl.providers.{c}.prices") is not None)


def fetcher_for(cloud: str, environ: Mapping[str, str]) -> Fetcher:
    """The cloud's fetcher, its credentials read from environ (MissingCredentials without)."""
    from importlib import import_module

    module = import_module(f"hybridctl.providers.{cloud}.prices")
    fetcher: Fetcher = module.fetcher(environ)
    return fetcher
