"""Verify a box after a change: the gateway through the proxy, every model of its tier loaded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hybridctl.deploy.box.adapter import Box
from hybridctl.deploy.box.serving import BootResult, wait_for_box
from hybridctl.deploy.compose.compose import tail
from hybridctl.render.context import LLM_PORT
from hybridctl.waiting import poll_until

POLL_S = 3.0


def model_states(box: Box, port: int = LLM_PORT) -> dict[str, str]:
    """Each model the server lists: 'loaded', 'loading', 'failed' (router mode), or 'listed'."""
    done = box.compose(
        "exec",
        "-T",
        "llm",
        "curl",
        "-fsS",
        "--max-time",
        "10",
        f"http://127.0.0.1:{port}/v1/models",
        timeout=60,
    )
    if done.returncode != 0:
        return {}
    try:
        data = json.loads(done.stdout or b"{}")
    except json.JSONDecodeError:
        return {}
    states: dict[str, str] = {}
    for row in data.get("data") or []:
        if isinstance(row, dict) and row.get("id"):
            states[str(row["id"])] = _state(row.get("status"))
    return states


def _state(status: Any) -> str:
    if not isinstance(status, dict):
        return "listed"  # a server without router mode lists what it serves
    if status.get("failed"):
        return f"failed (exit {status.get('exit_code', '?')})"
    return str(status.get("value") or "listed")


def wait_for_models(
    box: Box, names: Sequence[str], *, timeout_s: float, say: Callable[[str], None]
) -> list[str]:
    """Wait until every named model is loaded; the problems (a failed or missing model)."""
    seen: dict[str, str] = {}

    def look() -> list[str]:
        """Report each model whose state changed; the failed ones."""
        states = model_states(box)
        for name in names:
            state = states.get(name, "not listed")
            if seen.get(name) != state:
                seen[name] = state
                say(f"model {name}: {state}")
        return [f"{n} {seen[n]}" for n in names if seen[n].startswith("failed")]

    def ready(failed: list[str]) -> bool:
        return bool(failed) or all(seen[n] in ("loaded", "listed") for n in names)

    failed = poll_until(look, done=ready, timeout_s=timeout_s, interval_s=POLL_S)
    if failed:
        return failed
    return [f"{n} {seen[n]}" for n in names if seen[n] not in ("loaded", "listed")]


def verify_box(
    box: Box,
    base_url: str,
    ca_file: Path,
    models: Sequence[str],
    *,
    timeout_s: float,
    say: Callable[[str], None],
) -> str | None:
    """None when the box serves its tier (gateway through the proxy, models loaded), else why,
    with the last lines of each failed service's log."""
    started = time.monotonic()
    boot = wait_for_box(box, base_url, ca_file, timeout_s=timeout_s, say=say)
    problem = boot_problem(boot)
    if problem is None:
        left = max(30.0, timeout_s - (time.monotonic() - started))
        missing = wait_for_models(box, models, timeout_s=left, say=say)
        if missing:
            problem = "models not loaded: " + ", ".join(missing)
            return problem + "\n" + log_tail(box, ["llm"])
        return None
    return problem + "\n" + log_tail(box, [s.service for s in boot.failed] or ["gateway", "proxy"])


def boot_problem(boot: BootResult) -> str | None:
    if boot.serving:
        return None
    if not boot.ca_fetched:
        return "the proxy never produced its CA certificate"
    if not boot.gateway_ok:
        return "the gateway did not answer through the proxy"
    names = ", ".join(f"{s.service} {s.label}" for s in boot.failed) or "llm not healthy"
    return f"the local models are not serving ({names})"


def log_tail(box: Box, services: Sequence[str]) -> str:
    """The last lines of each named service's log, headed by its name."""
    return "\n".join(
        f"--- {service}, last lines:\n{tail(box.logs(service, 40))}" for service in services
    )
