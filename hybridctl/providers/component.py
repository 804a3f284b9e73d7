"""The base of every provider's component: the outputs all of them register, set in one place."""

from __future__ import annotations

import pulumi

from hybridctl.providers.spec import (
    DeploySpec,
    default_ssh_user,
    host_key_fingerprint,
)


class NodesComponent(pulumi.ComponentResource):
    """N servers of one deployment; outputs: ip, ips, ssh_user, host key, gateway URL, LB IP,
    and with N > 1 each node's private IP (node 0's Redis is the shared one)."""

    ip: pulumi.Output[str]
    ips: pulumi.Output[list[str]]
    ssh_user: pulumi.Output[str]
    host_key_fingerprint: pulumi.Output[str]
    load_balancer_ip: pulumi.Output[str] | None
    gateway_url: pulumi.Output[str]
    private_ips: pulumi.Output[list[str]] | None

    def _finish(
        self,
        spec: DeploySpec,
        addresses: list[pulumi.Output[str]],
        *,
        load_balancer_ip: pulumi.Output[str] | None = None,
        gateway_host: pulumi.Output[str] | None = None,
        private_ips: list[pulumi.Input[str]] | None = None,
    ) -> None:
        """Set and register the outputs; the gateway is reached through the balancer if any."""
        self.ip = addresses[0]
        self.ips = pulumi.Output.all(*addresses)
        self.ssh_user = pulumi.Output.from_input(default_ssh_user(spec))
        self.host_key_fingerprint = pulumi.Output.from_input(
            host_key_fingerprint(spec.host_key_public)
        )
        self.load_balancer_ip = load_balancer_ip
        host = gateway_host or load_balancer_ip or self.ip
        self.gateway_url = host.apply(lambda name: f"https://{name}")
        outputs: dict[str, object] = {
            "ip": self.ip,
            "ips": self.ips,
            "ssh_user": self.ssh_user,
            "host_key_fingerprint": self.host_key_fingerprint,
            "gateway_url": self.gateway_url,
        }
        if load_balancer_ip is not None:
            outputs["load_balancer_ip"] = load_balancer_ip
        self.private_ips = pulumi.Output.all(*private_ips) if private_ips else None
        if self.private_ips is not None:
            outputs["private_ips"] = self.private_ips
        self.register_outputs(outputs)
