"""`bench --deployment`'s serving part: a load test through the box's proxy and gateway.

Runs from this machine against the deployment's public endpoint, TLS verified with the
deployment's own CA, at the concurrency the plan promises for the box, and judges p95
latency and errors against the promise, with the plan's p95 beside the measured one. The
result joins the model figures in one report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.bench import defaults
from hybridctl.bench.result import BenchResult
from hybridctl.catalog.deployments import DeploymentRecord, deployment_dir
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.adapter import Box, box_for
from hybridctl.errors import InputError
from hybridctl.ops.check import ca_file_for, endpoint_of, public_certificate

AUTO_MODEL = "hybrid"  # the router's alias: its policy picks the route, as a client's would
MASTER_KEY = "LITELLM_MASTER_KEY"
REQUESTS_PER_CLIENT = 3
MINUTES_PER_DAY = 24 * 60


def master_key(record: DeploymentRecord) -> str:
    """The gateway's key from the deployment's .env on this machine (never printed)."""
    from hybridctl.render.envfile import parse_env

    folder = deployment_dir(record.name)
    for candidate in (folder / "bundle" / ".env", folder / ".env"):
        if candidate.is_file():
            key = parse_env(candidate.read_text(), str(candidate)).get(MASTER_KEY)
            if key:
                return key
    raise InputError(
        f"no {MASTER_KEY} for {record.name} on this machine",
        hint="The serving load test needs the gateway's key from the deployment's .env.",
    )


def serving_load(
    record: DeploymentRecord,
    catalog: Catalog,
    *,
    clients: int | None = None,
    requests: int | None = None,
    max_tokens: int = defaults.LOAD_MAX_TOKENS,
    bandwidth_gbs: float | None = None,
    runner: Box | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Load-test the deployment through its proxy at the plan's promised concurrency; the
    result carries the plan's p95 beside the measured one, and its own verdict.

    bandwidth_gbs: the machine's measured bandwidth (a local box), for the plan's figures.
    """
    from hybridctl.bench import loadreport, loadtest
    from hybridctl.planning.promise import p95_at, serving_promise

    tier = catalog.tier(record.tier)
    cpus = _host_cpus(record)
    promise = serving_promise(
        catalog, tier, response_tokens=max_tokens, host_cpus=cpus, bandwidth_gbs=bandwidth_gbs
    )
    base_url = endpoint_of(record)
    if not base_url:
        raise InputError(
            f"deployment {record.name} records no endpoint yet",
            hint="Wait for `hybridctl deploy` to finish, or bench the model server only "
            "(--skip-serving).",
        )
    public = public_certificate(record)
    ca_file = None if public else ca_file_for(record, runner or box_for(record))
    if ca_file is None and not public:
        raise InputError(f"the proxy's CA certificate of {record.name} could not be read")
    trust = "the system's trust store" if public else str(ca_file)
    clients = clients or promise.concurrency
    settings = loadtest.LoadSettings(
        url=base_url,
        clients=clients,
        requests=requests or clients * REQUESTS_PER_CLIENT,
        model=AUTO_MODEL,
        max_tokens=max_tokens,
        api_key=master_key(record),
        ca_file=str(ca_file) if ca_file else None,
        # Every request reaches a model: LiteLLM's cache would answer the repeated prompt.
        extra_body={"cache": {"no-cache": True}},
    )
    progress(
        f"serving: {settings.clients} clients (the plan promises {promise.concurrency} within "
        f"{promise.ceiling_s:g} s), {settings.requests} requests through {base_url} (TLS "
        f"verified with {trust})"
    )
    warm = loadtest.one_request(-1, settings, loadtest.chat_completions_url(base_url))
    progress(f"serving: warm-up request {'ok' if warm.ok else 'failed: ' + str(warm.error)}")
    result = loadtest.run_load(settings, progress)
    result["verdict"] = loadreport.verdict(
        result,
        promised_concurrency=promise.concurrency,
        target_rpm=None,
        max_p95_latency_s=promise.ceiling_s,
    )
    # The plan's p95 for the answers the box gave (a random-weight model may stop early).
    answered = result["generated_tokens"] / max(1, result["requests_ok"]) or max_tokens
    predicted = p95_at(
        catalog, tier, clients, response_tokens=round(answered), host_cpus=cpus,
        bandwidth_gbs=bandwidth_gbs,
    )  # fmt: skip
    result["promised_concurrency"] = promise.concurrency
    result["claimed_concurrency"] = promise.claimed_concurrency
    result["latency_ceiling_s"] = promise.ceiling_s
    result["predicted_p95_s"] = round(predicted, 2)
    result["measured_p95_s"] = result["latency_s"]["p95"]
    result["prediction"] = promise.detail
    _judge_volume(result, tier.requests_per_day.max)
    result["tier"] = tier.id
    result["ca_file"] = str(Path(ca_file)) if ca_file else None
    return result


def _host_cpus(record: DeploymentRecord) -> int | None:
    """The CPUs of the machine a local box runs on (its limits cannot exceed them)."""
    from hybridctl.deploy.compose.localfit import host_cpus
    from hybridctl.providers.registry import is_local

    return host_cpus() if is_local(record.provider) else None


def _judge_volume(result: dict[str, Any], per_day: float | None) -> None:
    """The day's volume the measured rate carries at full load, against the tier's maximum."""
    if per_day is None:
        return
    rpm = float(result["requests_per_minute"])
    capacity = rpm * MINUTES_PER_DAY
    verdict = result["verdict"]
    line = (
        f"{rpm:.1f} requests/min carries {capacity:,.0f} requests a day at full load "
        f"(the tier promises up to {per_day:,.0f})"
    )
    if capacity < per_day:
        verdict["shortfalls"].append(line)
        verdict["ok"] = False
    else:
        verdict["notes"].append(line)


def merge(bench_result: BenchResult, serving: dict[str, Any]) -> BenchResult:
    """One report: the model figures and the serving stack's, with one verdict over both."""
    merged = bench_result.copy()
    merged["serving"] = serving
    verdict = (merged.get("verdict") or {"ok": True, "shortfalls": []}).copy()
    gaps = [f"serving: {gap}" for gap in serving["verdict"]["shortfalls"]]
    verdict["shortfalls"] = [*verdict.get("shortfalls", []), *gaps]
    verdict["ok"] = bool(verdict.get("ok", True)) and serving["verdict"]["ok"]
    merged["verdict"] = verdict
    return merged


def with_serving(
    bench_result: BenchResult,
    name: str,
    catalog_path: Path | None,
    *,
    clients: int | None,
    max_tokens: int,
    progress: Callable[[str], None],
) -> BenchResult:
    """`bench --deployment`: the model figures plus the serving load test, in one report."""
    from hybridctl.bench.loadreport import summary_text
    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.deployments import load_record

    record = load_record(name)
    bandwidth = (bench_result.get("machine") or {}).get("bandwidth_gbs")
    serving = serving_load(
        record, load_catalog(catalog_path), clients=clients, max_tokens=max_tokens,
        bandwidth_gbs=bandwidth, progress=progress,
    )  # fmt: skip
    progress(summary_text(serving))
    return merge(bench_result, serving)
