"""What a deployment's stack outputs say about its nodes: their IPs, the balancer, each .env."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hybridctl.errors import OperationFailed


def node_ips(outputs: Mapping[str, Any]) -> list[str]:
    """Every node's public IP from a stack's outputs (`ips`, else the single `ip`)."""
    ips = outputs.get("ips")
    if isinstance(ips, list) and ips:
        return [str(ip) for ip in ips]
    ip = outputs.get("ip")
    return [str(ip)] if ip else []


def balancer_host(outputs: Mapping[str, Any]) -> str | None:
    """The name or address clients reach a multi-node deployment by (its balancer)."""
    if not outputs.get("load_balancer_ip"):
        return None
    url = str(outputs.get("gateway_url") or "")
    return urlsplit(url).hostname or str(outputs["load_balancer_ip"])


def node_env(outputs: Mapping[str, Any], index: int) -> dict[str, str]:
    """The .env entries node `index` of a deployment needs on top of the shared ones.

    With a balancer: its address (the proxy's certificate names it); node 0 publishes Redis on
    its private address and the others use that Redis, so the cache and the spend store are one.
    """
    lb_host = balancer_host(outputs)
    if lb_host is None:
        return {}
    private = [str(ip) for ip in outputs.get("private_ips") or []]
    if not private:
        raise OperationFailed(
            "the stack's outputs name no private IPs, so the nodes cannot share one Redis",
            hint="Run the deploy again to refresh the outputs.",
        )
    env = {"HYBRIDCTL_LB_HOST": lb_host}
    if index == 0:
        env["HYBRIDCTL_REDIS_BIND"] = private[0]
    else:
        env["HYBRIDCTL_REDIS_HOST"] = private[0]
    return env
