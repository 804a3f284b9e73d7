"""The load test's report: percentiles, the summary of a run, its verdict and a readable text.

Standard library only, like the rest of the bench.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loadtest import LoadSettings, RequestRecord

MAX_ERROR_SAMPLES = 5


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (fraction in 0..1) of values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarize(
    settings: LoadSettings,
    endpoint: str,
    records: list[RequestRecord],
    wall_s: float,
    stopped_by_deadline: bool,
) -> dict[str, Any]:
    ok = [r for r in records if r.ok]
    errors = [r for r in records if not r.ok]
    latencies = [r.latency_s for r in ok if r.latency_s is not None]
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    tokens = sum(r.completion_tokens for r in ok)
    return {
        "endpoint": endpoint,
        "model": settings.model,
        "clients": settings.clients,
        "requests_planned": settings.requests,
        "requests_sent": len(records),
        "requests_ok": len(ok),
        "errors": len(errors),
        "error_samples": [r.error for r in errors[:MAX_ERROR_SAMPLES]],
        "stopped_by_time_limit": stopped_by_deadline,
        "max_tokens": settings.max_tokens,
        "wall_s": round(wall_s, 3),
        "requests_per_minute": round(len(ok) / wall_s * 60, 2) if wall_s > 0 else 0.0,
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall_s, 2) if wall_s > 0 else 0.0,
        "ttft_s": {
            "p50": _rounded(percentile(ttfts, 0.5)),
            "p95": _rounded(percentile(ttfts, 0.95)),
        },
        "latency_s": {
            "p50": _rounded(percentile(latencies, 0.5)),
            "p95": _rounded(percentile(latencies, 0.95)),
        },
        "requests": [r.brief() for r in records],
        "not_measured": "server-side queueing apart from compute; when the server reports no "
        "usage, generated tokens are counted from streamed chunks (capped at max_tokens)",
    }


def verdict(
    result: dict[str, Any],
    *,
    promised_concurrency: int | None,
    target_rpm: float | None,
    max_p95_latency_s: float | None,
) -> dict[str, Any]:
    """Compare the figures with the promises given; every gap becomes a shortfall line."""
    shortfalls: list[str] = []
    notes: list[str] = []
    if result["errors"]:
        shortfalls.append(f"{result['errors']} of {result['requests_sent']} requests failed")
    if result["requests_sent"] < result["requests_planned"]:
        shortfalls.append(
            f"only {result['requests_sent']} of {result['requests_planned']} requests were sent "
            "before the time limit"
        )
    if promised_concurrency is not None:
        if result["clients"] < promised_concurrency:
            shortfalls.append(
                f"ran {result['clients']} clients, fewer than the promised concurrency "
                f"{promised_concurrency}: the promise was not tested"
            )
        else:
            notes.append(
                f"served {result['clients']} concurrent clients (promised {promised_concurrency})"
            )
    if target_rpm is not None:
        rpm = result["requests_per_minute"]
        if rpm < target_rpm:
            shortfalls.append(
                f"{rpm:.1f} requests/min is short of the {target_rpm:g} target "
                f"(gap {target_rpm - rpm:.1f}, {rpm / target_rpm:.0%} of it)"
            )
        else:
            notes.append(f"{rpm:.1f} requests/min meets the {target_rpm:g} target")
    p95 = result["latency_s"]["p95"]
    if max_p95_latency_s is not None and p95 is not None:
        if p95 > max_p95_latency_s:
            shortfalls.append(
                f"latency p95 {p95:.2f} s is over the {max_p95_latency_s:g} s promise"
            )
        else:
            notes.append(f"latency p95 {p95:.2f} s is within {max_p95_latency_s:g} s")
    return {"ok": not shortfalls, "shortfalls": shortfalls, "notes": notes}


def summary_text(result: dict[str, Any]) -> str:
    """A readable summary of a load-test result (with its verdict when present)."""

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"load test: {result['endpoint']} model={result['model'] or '(server default)'}",
        f"  clients {result['clients']}, requests {result['requests_ok']} ok / "
        f"{result['requests_sent']} sent, errors {result['errors']}, wall {result['wall_s']:.1f} s",
        f"  requests/min {result['requests_per_minute']:.1f}, "
        f"generated tokens/s {result['tokens_per_s']:.1f} ({result['generated_tokens']} tokens)",
        f"  time to first token p50 {fmt(result['ttft_s']['p50'])} s, "
        f"p95 {fmt(result['ttft_s']['p95'])} s",
        f"  latency p50 {fmt(result['latency_s']['p50'])} s, "
        f"p95 {fmt(result['latency_s']['p95'])} s",
    ]
    lines += [f"  error: {sample}" for sample in result["error_samples"]]
    judged = result.get("verdict")
    if judged:
        lines += [f"  note: {note}" for note in judged["notes"]]
        lines += [f"  SHORT: {gap}" for gap in judged["shortfalls"]]
        lines.append("  verdict: " + ("promises hold" if judged["ok"] else "falls short"))
    return "\n".join(lines)
