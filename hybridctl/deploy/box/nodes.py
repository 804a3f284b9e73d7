"""The serving wait of a multi-node deployment: node 0's CA on every node, each verified by name.

Each node is checked with the balancer's name (or the --domain), as clients and the balancer's
health checks see it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from hybridctl.deploy.box.adapter import Box
from hybridctl.deploy.box.verify import log_tail, wait_for_models
from hybridctl.deploy.compose.compose import ServiceState, failed
from hybridctl.stackfacts import CADDY_ROOT_CA, GATEWAY_HEALTH_PATH, ONE_SHOT_SERVICES
from hybridctl.waiting import poll_until

POLL_S = 2.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class Node:
    """One node: what to call it, its compose project, and the URL that reaches its proxy."""

    name: str
    box: Box
    url: str


def tls_ok_as(url: str, server_name: str, ca_file: Path | None, timeout: float = 5.0) -> bool:
    """True when the proxy at `url` answers the health path with a certificate valid for
    `server_name` (verified against ca_file, or the system's trust store when None).

    The node is reached by its own address, but its certificate names the balancer: the proxy
    shows it to a client that sends no SNI (a balancer's health check by IP), and one that asks
    for the balancer's name gets it too.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.sock = tls
            conn.request("GET", GATEWAY_HEALTH_PATH, headers={"Host": server_name})
            return 200 <= conn.getresponse().status < 300
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False


def _wait(what: Callable[[], bool], deadline: float) -> bool:
    return poll_until(what, deadline=deadline, interval_s=POLL_S)


def _proxy_running(box: Box) -> bool:
    proxy = box.states().get("proxy")
    return proxy is not None and proxy.state == "running"


def serve_nodes(
    nodes: Sequence[Node],
    server_name: str,
    ca_file: Path | None,
    models: Sequence[str],
    *,
    share: Callable[[], None],
    timeout_s: float,
    say: Say,
) -> str | None:
    """Wait until every node serves its tier by `server_name`; None, or what failed where.

    With the internal CA (ca_file given): node 0's root certificate is saved to ca_file, every
    other node's proxy receives node 0's CA (`share`), and each node must then verify with
    that one file. With a --domain (ca_file None) the public certificate is verified instead.
    """
    deadline = time.monotonic() + timeout_s
    if ca_file is not None:
        first = nodes[0]
        say(f"waiting for the proxy on {first.name} to make its CA")
        if not _wait(lambda: first.box.copy_out(f"proxy:{CADDY_ROOT_CA}", ca_file), deadline):
            return f"{first.name}: the proxy never produced its CA certificate\n" + log_tail(
                first.box, ["proxy"]
            )
        say(f"proxy: node 0's CA certificate saved to {ca_file}")
        for node in nodes[1:]:
            if not _wait(partial(_proxy_running, node.box), deadline):
                return f"{node.name}: the proxy is not running\n" + log_tail(node.box, ["proxy"])
        if len(nodes) > 1:
            share()
            say(f"proxy: node 0's CA installed on {len(nodes) - 1} other node(s)")
    for node in nodes:
        say(f"waiting for {node.name} to serve as {server_name} at {node.url}")
        problem = _serve_one(node, server_name, ca_file, models, deadline, say)
        if problem is not None:
            return f"{node.name}: {problem}"
    return None


def _serve_one(
    node: Node,
    server_name: str,
    ca_file: Path | None,
    models: Sequence[str],
    deadline: float,
    say: Say,
) -> str | None:
    def answers() -> list[ServiceState] | None:
        """None once the node answers; else the services that stopped for good."""
        if tls_ok_as(node.url, server_name, ca_file):
            return None
        return failed(list(node.box.states().values()), ONE_SHOT_SERVICES)

    dead = poll_until(
        answers,
        done=lambda dead: dead is None or any(s.service in ("gateway", "proxy") for s in dead),
        deadline=deadline,
        interval_s=POLL_S,
    )
    if dead is not None:
        what = f"the gateway did not answer through the proxy as {server_name}"
        return what + "\n" + log_tail(node.box, [s.service for s in dead] or ["proxy"])
    checked = "TLS verified with node 0's CA" if ca_file else "public certificate verified"
    say(f"gateway: {node.name} answers as {server_name} ({checked})")
    left = max(30.0, deadline - time.monotonic())
    missing = wait_for_models(node.box, models, timeout_s=left, say=say)
    if missing:
        return "models not loaded: " + ", ".join(missing) + "\n" + log_tail(node.box, ["llm"])
    return None
