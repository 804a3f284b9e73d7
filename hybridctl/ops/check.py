"""`status --check`: a deployment's box checked live and judged against its tier's budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from hybridctl.catalog.deployments import DeploymentRecord, deployment_dir
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.adapter import Box, box_for
from hybridctl.ops import probes
from hybridctl.providers.registry import is_local
from hybridctl.stackfacts import CA_FILE, GATEWAY_HEALTH_PATH, ONE_SHOT_SERVICES

Level = Literal["ok", "warn", "fail"]
MIB = 2**20
GIB = 2**30
LEAF_WARN = timedelta(hours=1)  # Caddy's internal certificates live 12 h and renew themselves
CA_WARN = timedelta(days=30)
SERVICE_MEMORY_WARN = 0.9
DISK_FREE_FAIL = 0.05


@dataclass
class CheckItem:
    """One thing checked: what, its level, and a line a person can read."""

    what: str
    level: Level
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckReport:
    """Everything `status --check` found; healthy when nothing failed (warnings are allowed)."""

    name: str
    tier: str
    provider: str
    where: str
    checked: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(item.level != "fail" for item in self.items)

    @property
    def problems(self) -> list[CheckItem]:
        return [item for item in self.items if item.level == "fail"]

    def add(self, what: str, level: Level, detail: str, **data: Any) -> None:
        self.items.append(CheckItem(what, level, detail, data))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["healthy"] = self.healthy
        return out


def endpoint_of(record: DeploymentRecord) -> str | None:
    return record.outputs.get("endpoint") or record.outputs.get("gateway_url")


def public_certificate(record: DeploymentRecord) -> bool:
    """A --domain deployment serves a public (ACME) certificate: the system's trust store
    verifies it, not the proxy's internal CA."""
    return bool(record.outputs.get("domain"))


def ca_file_for(record: DeploymentRecord, runner: Box) -> Path | None:
    """The deployment's own CA: the saved one (local), else fetched from the box's proxy."""
    saved = record.outputs.get("ca_cert")
    if saved and Path(saved).is_file():
        return Path(saved)
    dest = deployment_dir(record.name) / CA_FILE
    return dest if probes.fetch_ca(runner, dest) else None


def check_deployment(
    record: DeploymentRecord, catalog: Catalog, *, runner: Box | None = None
) -> CheckReport:
    """Check a deployment live: services, gateway over TLS, models, memory, disk, spend, certs."""
    runner = runner or box_for(record)
    tier = catalog.tier(record.tier)
    report = CheckReport(
        record.name,
        record.tier,
        record.provider,
        runner.where,
        datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    found = probes.containers(runner)
    _services(report, probes.declared_services(runner), found)
    states = {c.service: c.state for c in found}
    public = public_certificate(record)
    ca_file = ca_file_for(record, runner) if "proxy" in states and not public else None
    _gateway(report, endpoint_of(record), ca_file, public=public)
    if "llm" in states and states["llm"].state == "running":
        from hybridctl.render.context import LLM_PORT

        # llama.cpp's router lists each model with its load state; other servers at /v1/models.
        path = "/models" if tier.runtime == "llama.cpp" else "/v1/models"
        served = probes.served_models(runner, LLM_PORT, path)
        _models(report, [entry.model for entry in tier.models], served)
    else:
        report.add("models", "fail", "the model server is not running: no local model serves")
    _memory(report, probes.memory_use(runner, found), tier.ram_gib)
    _disk(report, probes.disk_use(runner), tier.disk_gb, local=is_local(record.provider))
    budget = catalog.routing.daily_cloud_budget_usd
    if "redis" in states:
        _spend(report, probes.spend_today(runner), budget)
    else:
        report.add(
            "cloud spend",
            "ok",
            f"not stored (tier {tier.id} has no Redis: the gateway counts it in memory); "
            f"daily budget ${budget:g}",
        )
    return report


def _services(report: CheckReport, declared: list[str], found: list[probes.Container]) -> None:
    by_service = {c.service: c.state for c in found}
    for service in declared or sorted(by_service):
        state = by_service.get(service)
        if state is None:
            report.add(f"service {service}", "fail", "no container (never started)")
            continue
        data = {"state": state.state, "health": state.health, "exit_code": state.exit_code}
        if service in ONE_SHOT_SERVICES:
            done = state.state == "exited" and state.exit_code == 0
            level: Level = "ok" if done or state.state == "running" else "fail"
            detail = "done" if done else state.label
        elif state.state == "running" and state.health in ("healthy", ""):
            level, detail = "ok", state.label
        elif state.state == "running" and state.health == "starting":
            level, detail = "warn", state.label
        else:
            level, detail = "fail", state.label
        report.add(f"service {service}", level, detail, **data)


def _gateway(
    report: CheckReport, base_url: str | None, ca_file: Path | None, *, public: bool = False
) -> None:
    from hybridctl.deploy.box.serving import https_ok

    if not base_url:
        report.add("gateway", "fail", "the deployment records no endpoint")
        return
    if ca_file is None and not public:
        report.add("gateway", "fail", "the proxy's CA certificate could not be read")
        return
    trust = "the system's trust store" if public else str(ca_file)
    if https_ok(base_url + GATEWAY_HEALTH_PATH, ca_file):
        report.add("gateway", "ok", f"answers at {base_url} (TLS verified with {trust})")
    else:
        report.add("gateway", "fail", f"does not answer at {base_url}{GATEWAY_HEALTH_PATH}")
        return
    try:
        facts = probes.tls_facts(base_url, ca_file)
    except (OSError, ValueError) as exc:
        report.add("certificate", "fail", f"could not read the served certificate: {exc}")
        return
    now = datetime.now(UTC)
    left = facts.leaf_expires - now
    level: Level = "fail" if left <= timedelta(0) else "warn" if left < LEAF_WARN else "ok"
    detail = f"expires {facts.leaf_expires:%Y-%m-%d %H:%M} UTC (in {_span(left)})"
    if facts.ca_expires is not None:
        ca_left = facts.ca_expires - now
        detail += f"; CA expires {facts.ca_expires:%Y-%m-%d} (in {_span(ca_left)})"
        if ca_left < CA_WARN:
            level = "fail" if ca_left <= timedelta(0) else "warn"
    report.add(
        "certificate",
        level,
        detail,
        expires=facts.leaf_expires.isoformat(),
        ca_expires=facts.ca_expires.isoformat() if facts.ca_expires else None,
    )


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "the past"
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _models(report: CheckReport, wanted: list[str], served: dict[str, str] | str) -> None:
    if isinstance(served, str):
        report.add("models", "fail", f"the model server's /models: {served}")
        return
    for model in wanted:
        status = served.get(model)
        if status is None:
            report.add(f"model {model}", "fail", "not offered by the model server")
        elif status in ("loaded", "listed"):
            report.add(f"model {model}", "ok", status, status=status)
        elif status == "loading":
            report.add(f"model {model}", "warn", status, status=status)
        else:
            report.add(f"model {model}", "fail", status, status=status)


def _memory(report: CheckReport, use: dict[str, tuple[int, int]], ram_gib: float) -> None:
    if not use:
        report.add("memory", "warn", "no running container reported its memory")
        return
    total = sum(used for used, _ in use.values())
    budget = ram_gib * GIB
    level: Level = "fail" if total > budget else "ok"
    report.add(
        "memory",
        level,
        f"{total / MIB:,.0f} MiB used by the stack, of the tier's {ram_gib:g} GiB",
        used_bytes=total,
        budget_bytes=int(budget),
        services={name: {"used": u, "limit": lim} for name, (u, lim) in sorted(use.items())},
    )
    for service, (used, limit) in sorted(use.items()):
        if limit and used >= SERVICE_MEMORY_WARN * limit:
            report.add(
                f"memory {service}",
                "warn",
                f"{used / MIB:,.0f} MiB of its {limit / MIB:,.0f} MiB limit",
            )


def _disk(report: CheckReport, use: tuple[int, int] | None, disk_gb: float, local: bool) -> None:
    if use is None:
        report.add("disk", "warn", "could not read the disk use")
        return
    used, size = use
    free = size - used
    level: Level = "fail" if size and free / size < DISK_FREE_FAIL else "ok"
    detail = f"{used / GIB:,.1f} GiB used of {size / GIB:,.1f} GiB ({free / GIB:,.1f} GiB free)"
    if local:
        detail += "; this machine's disk, not the tier's"
    else:
        detail += f"; the tier's disk is {disk_gb:g} GB"
        if used > disk_gb * 1e9:
            level = "warn"
    report.add("disk", level, detail, used_bytes=used, size_bytes=size)


def _spend(report: CheckReport, spent: float | str | None, budget: float) -> None:
    if isinstance(spent, str):
        report.add("cloud spend", "fail", spent)
        return
    value = spent or 0.0
    level: Level = "warn" if value >= budget else "ok"
    note = "; cloud routes are off until midnight UTC" if level == "warn" else ""
    report.add(
        "cloud spend",
        level,
        f"${value:.4f} today (UTC) of the ${budget:g} daily budget{note}",
        usd=value,
        budget_usd=budget,
    )


def check_problems(record: Any, catalog: Any, runner: Any = None) -> str | None:
    """`status --check`'s verdict on a box that serves: None when healthy, else what failed."""
    report = check_deployment(record, catalog, runner=runner)
    if report.healthy:
        return None
    return "status --check: " + "; ".join(f"{i.what}: {i.detail}" for i in report.problems)
