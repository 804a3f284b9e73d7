"""Wait for a booted box to serve: its services' states and the gateway through the TLS proxy."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.deploy.box.adapter import Box
from hybridctl.deploy.compose.compose import ServiceState, failed
from hybridctl.stackfacts import (
    CADDY_ROOT_CA,
    GATEWAY_HEALTH_PATH,
    MODEL_DOWNLOADER,
    ONE_SHOT_SERVICES,
)

POLL_S = 2.0


@dataclass
class BootResult:
    """How far the box got: the gateway through the proxy, the model server, what failed."""

    gateway_ok: bool = False
    llm_ok: bool = False
    ca_fetched: bool = False
    failed: list[ServiceState] = field(default_factory=list)
    states: dict[str, ServiceState] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def serving(self) -> bool:
        return self.gateway_ok and self.llm_ok


def https_ok(url: str, ca_file: Path | None, timeout: float = 5.0) -> bool:
    """True when `url` answers 2xx over TLS verified against `ca_file` (None: the system's trust
    store, for a public certificate); never unverified."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _llm_ok(states: dict[str, ServiceState]) -> bool:
    llm = states.get("llm")
    if llm is None or llm.state != "running":
        return False
    return llm.health in ("healthy", "")


def wait_for_box(
    box: Box,
    base_url: str,
    ca_file: Path,
    *,
    timeout_s: float,
    say: Callable[[str], None],
    up_status: Callable[[], int | None] = lambda: 0,
) -> BootResult:
    """Poll until the gateway answers through the proxy and the model server is healthy.

    Each service's state change is reported through `say`. `up_status` is `compose up`'s exit
    code (None while it runs). Stops early when the model server cannot come up (a failed
    download, a crashed server) once the gateway serves, since cloud routes then carry the
    traffic and waiting longer changes nothing; and when `compose up` failed and left no proxy
    running (a port in use, an image missing).
    """
    result = BootResult()
    started = time.monotonic()
    seen: dict[str, str] = {}
    while True:
        states = box.states()
        for name, state in sorted(states.items()):
            if seen.get(name) != state.label:
                seen[name] = state.label
                say(f"{name}: {state.label}")
        result.states = states
        if not result.ca_fetched and "proxy" in states and states["proxy"].state == "running":
            result.ca_fetched = box.copy_out(f"proxy:{CADDY_ROOT_CA}", ca_file)
            if result.ca_fetched:
                say(f"proxy: CA certificate saved to {ca_file}")
        if result.ca_fetched and not result.gateway_ok:
            result.gateway_ok = https_ok(base_url + GATEWAY_HEALTH_PATH, ca_file)
            if result.gateway_ok:
                say(f"gateway: answers through the proxy at {base_url} (TLS verified)")
        result.llm_ok = _llm_ok(states)
        result.failed = failed(list(states.values()), ONE_SHOT_SERVICES)
        result.seconds = time.monotonic() - started
        llm_down = any(s.service in ("llm", MODEL_DOWNLOADER) for s in result.failed)
        up = up_status()
        if result.gateway_ok and (result.llm_ok or llm_down) and up is not None:
            return result
        proxy = states.get("proxy")
        if up and (proxy is None or proxy.state != "running"):
            return result
        if result.seconds >= timeout_s:
            return result
        time.sleep(POLL_S)
