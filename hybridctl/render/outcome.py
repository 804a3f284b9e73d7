"""What `hybridctl render` reports: the request from its flags, summaries and the check errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridctl.errors import CheckFailed, UsageError
from hybridctl.render.bundle import RenderResult
from hybridctl.render.checks import CheckReport
from hybridctl.render.request import RenderRequest


def require_tier(tier: str | None) -> str:
    """The --tier to render; exit 2 without one."""
    if tier is None:
        raise UsageError(
            "--tier is required to render",
            hint="Example: hybridctl render --tier 2 --out ./bundle (or --check DIR to validate).",
        )
    return tier


def request_from_flags(flags: Mapping[str, Any], route_urls: dict[str, str]) -> RenderRequest:
    """The RenderRequest that `render`'s options (keyed by parameter name) describe."""
    return RenderRequest(
        tier=require_tier(flags["tier"]),
        provider=flags["provider"],
        out=flags["out"],
        force=flags["force"],
        ollama=flags["ollama"],
        domain=flags["domain"],
        admin_cidr=flags["admin_cidr"],
        ssh_public_key_file=flags["ssh_public_key"],
        images_file=flags["images"],
        route_urls=route_urls,
        allow_unverified=flags["allow_unverified"],
        catalog_path=flags["catalog"],
    )


def render_summary(result: RenderResult) -> dict[str, Any]:
    """A render's result as JSON-ready fields: files, memory limits, secrets' origin, notes."""
    ctx = result.rendered.context
    return {
        "out": str(result.out),
        "tier": ctx.tier_id,
        "provider": ctx.provider,
        "server": ctx.server,
        "written": result.report.written,
        "unchanged": result.report.unchanged,
        "removed": result.report.removed,
        "memory_mib": ctx.memory_mib,
        "memory_total_mib": ctx.memory_total_mib,
        "memory_budget_mib": ctx.ram_mib - ctx.os_reserved_mib,
        "env": {
            "file": str(result.out / ".env"),
            "generated": result.env.generated,
            "from_environment": result.env.from_environment,
        },
        "notes": result.rendered.notes,
        "problems": result.problems,
    }


def render_failure(problems: list[str]) -> CheckFailed:
    """The exit-1 error when a fresh render fails its own checks."""
    listing = "\n".join(f"  - {problem}" for problem in problems)
    return CheckFailed(
        f"the rendered bundle fails its checks:\n{listing}",
        hint="This is a bug in the templates or the catalog; please report it.",
    )


def check_summary(bundle: Path, report: CheckReport) -> dict[str, Any]:
    """`render --check`'s result as JSON-ready fields."""
    return {
        "bundle": str(bundle),
        "tier": report.tier_id,
        "ok": report.ok,
        "problems": report.problems,
        "memory_mib": report.memory_mib,
        "memory_budget_mib": report.memory_budget_mib,
    }


def check_failure(bundle: Path, report: CheckReport) -> CheckFailed:
    """The exit-1 error for a bundle that fails `render --check`."""
    listing = "\n".join(f"  - {problem}" for problem in report.problems)
    return CheckFailed(
        f"{bundle} has {len(report.problems)} problem(s):\n{listing}",
        hint="Re-render it with `hybridctl render --tier T --out DIR --force`.",
    )
