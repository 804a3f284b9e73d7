"""`bench --deployment`'s serving part: a load test through the box's proxy and gateway.

Runs from this machine against the deployment's public endpoint, TLS verified with the
deployment's own CA, at the tier's promised concurrency, and judges requests per minute,
p95 latency and errors against the tier's promises. The result joins the llama-cpp-python
figures in one report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.bench import defaults
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.records import DeploymentRecord, deployment_dir
from hybridctl.errors import InputError
from hybridctl.ops.check import ca_file_for, endpoint_of, public_certificate
from hybridctl.ops.runner import BoxRunner, runner_for

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
    runner: BoxRunner | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Load-test the deployment through its proxy; the result carries its own verdict."""
    from hybridctl.bench import loadreport, loadtest

    tier = catalog.tier(record.tier)
    promises = tier.promises
    base_url = endpoint_of(record)
    if not base_url:
        raise InputError(
            f"deployment {record.name} records no endpoint yet",
            hint="Wait for `hybridctl deploy` to finish, or bench the model server only "
            "(--skip-serving).",
        )
    public = public_certificate(record)
    ca_file = None if public else ca_file_for(record, runner or runner_for(record))
    if ca_file is None and not public:
        raise InputError(f"the proxy's CA certificate of {record.name} could not be read")
    trust = "the system's trust store" if public else str(ca_file)
    clients = clients or promises.max_concurrent
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
        f"serving: {settings.clients} clients, {settings.requests} requests through "
        f"{base_url} (TLS verified with {trust})"
    )
    warm = loadtest.one_request(-1, settings, loadtest.chat_completions_url(base_url))
    progress(f"serving: warm-up request {'ok' if warm.ok else 'failed: ' + str(warm.error)}")
    result = loadtest.run_load(settings, progress)
    ceiling = promises.typical_latency_s[1]
    result["verdict"] = loadreport.verdict(
        result,
        promised_concurrency=promises.max_concurrent,
        target_rpm=None,
        max_p95_latency_s=ceiling,
    )
    _judge_volume(result, tier.requests_per_day.max)
    result["tier"] = tier.id
    result["ca_file"] = str(Path(ca_file)) if ca_file else None
    return result


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


def merge(bench_result: dict[str, Any], serving: dict[str, Any]) -> dict[str, Any]:
    """One report: the model figures and the serving stack's, with one verdict over both."""
    merged = dict(bench_result)
    merged["serving"] = serving
    verdict = dict(merged.get("verdict") or {"ok": True, "shortfalls": []})
    gaps = [f"serving: {gap}" for gap in serving["verdict"]["shortfalls"]]
    verdict["shortfalls"] = [*verdict.get("shortfalls", []), *gaps]
    verdict["ok"] = bool(verdict.get("ok", True)) and serving["verdict"]["ok"]
    merged["verdict"] = verdict
    return merged


def with_serving(
    bench_result: dict[str, Any],
    name: str,
    catalog_path: Path | None,
    *,
    clients: int | None,
    max_tokens: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """`bench --deployment`: the model figures plus the serving load test, in one report."""
    from hybridctl.bench.loadreport import summary_text
    from hybridctl.catalog import load_catalog
    from hybridctl.deploy.records import load_record

    record = load_record(name)
    serving = serving_load(
        record, load_catalog(catalog_path), clients=clients, max_tokens=max_tokens,
        progress=progress,
    )  # fmt: skip
    progress(summary_text(serving))
    return merge(bench_result, serving)
