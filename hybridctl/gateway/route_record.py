"""What the box recorded per need band (Prometheus counters) and the need threshold re-fit from it.

The gateway's hook counts, per need band (hybrid_need.need_bucket): requests by the route taken
(hybrid_need_requests), local answers whose confidence was checked (hybrid_need_local_checked)
and those below the tier's confidence threshold (hybrid_need_escalations). An escalated local
answer is a label: the local model was not good enough for that request. Where most local
answers in a band are escalated, sending that band to the cloud at once saves the local attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError

REQUESTS = "hybrid_need_requests"
CHECKED = "hybrid_need_local_checked"
ESCALATED = "hybrid_need_escalations"
MIN_CHECKED = 5  # a band with fewer checked local answers says too little to move a threshold
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Band:
    """One need band's record: requests by route, local answers checked, and escalated."""

    bucket: float  # the band's lower bound
    routes: dict[str, float]
    checked: float
    escalated: float

    @property
    def requests(self) -> float:
        return sum(self.routes.values())

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.checked if self.checked else None


def _metric_name(name: str) -> str:
    for suffix in ("_total", "_created"):
        if name.endswith(suffix):
            return name[: -len(suffix)] if suffix == "_total" else ""
    return name


def parse_record(text: str) -> list[Band]:
    """The need bands in a Prometheus text exposition (the gateway's /metrics/), low to high."""
    routes: dict[float, dict[str, float]] = {}
    checked: dict[float, float] = {}
    escalated: dict[float, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or line.startswith("#"):
            continue
        name = _metric_name(match.group(1))
        if name not in (REQUESTS, CHECKED, ESCALATED):
            continue
        labels = dict(_LABEL.findall(match.group(2) or ""))
        try:
            bucket, value = float(labels["bucket"]), float(match.group(3))
        except (KeyError, ValueError):
            continue
        if name == REQUESTS:
            band = routes.setdefault(bucket, {})
            route = labels.get("route", "?")
            band[route] = band.get(route, 0.0) + value
        else:
            table = checked if name == CHECKED else escalated
            table[bucket] = table.get(bucket, 0.0) + value
    buckets = sorted(set(routes) | set(checked) | set(escalated))
    return [
        Band(b, dict(sorted(routes.get(b, {}).items())), checked.get(b, 0.0), escalated.get(b, 0.0))
        for b in buckets
    ]


def read_record(path: Path) -> list[Band]:
    """The need bands in a saved /metrics/ page (a clear error when it has none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}") from None
    bands = parse_record(text)
    if not bands:
        raise InputError(
            f"{path} holds no {REQUESTS} counters",
            hint="Save the gateway's metrics first: curl -s http://GATEWAY:4000/metrics/ > FILE",
        )
    return bands


def refit(bands: list[Band], max_escalation: float, current: float) -> dict[str, Any]:
    """The lowest need threshold above which every band with enough checked local answers
    escalates at least `max_escalation` of them: those requests go to the cloud at once.

    Without such a band the threshold stays (`current`); the record is what the box saw, so the
    cloud share at the new threshold is the share of recorded requests in bands at or above it.
    """
    total = sum(band.requests for band in bands)
    judged = [b for b in bands if b.checked >= MIN_CHECKED]
    threshold = current
    for index, band in enumerate(judged):
        rates = [b.escalation_rate or 0.0 for b in judged[index:]]
        if all(rate >= max_escalation for rate in rates):
            threshold = band.bucket
            break
    above = sum(b.requests for b in bands if b.bucket >= threshold - 1e-9)
    return {
        "requests": total,
        "max_escalation": max_escalation,
        "current_threshold": current,
        "threshold": threshold,
        "changed": abs(threshold - current) > 1e-9,
        "cloud_share": above / total if total else 0.0,
        "bands": [
            {
                "bucket": b.bucket,
                "requests": b.requests,
                "routes": b.routes,
                "checked": b.checked,
                "escalated": b.escalated,
                "escalation_rate": b.escalation_rate,
            }
            for b in bands
        ],
    }
