"""Hetzner Cloud's Pulumi program: servers, firewall, SSH key, primary IPs, volumes, balancer."""

from __future__ import annotations

import pulumi
import pulumi_hcloud as hcloud

from hybridctl.providers.component import NodesComponent
from hybridctl.providers.hetzner import HETZNER
from hybridctl.providers.spec import (
    HEALTH_CHECK_PORT,
    PRIVATE_RANGE,
    SSH_PORT,
    WEB_PORTS,
    DeploySpec,
    private_ip,
)
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH

ANYWHERE = ["0.0.0.0/0", "::/0"]
LOAD_BALANCER_TYPE = "lb11"
NETWORK_RANGE = "10.42.0.0/16"
# Hetzner's network zone for each location (a subnet lives in one zone).
NETWORK_ZONES = {
    "fsn1": "eu-central",
    "nbg1": "eu-central",
    "hel1": "eu-central",
    "ash": "us-east",
    "hil": "us-west",
    "sin": "ap-southeast",
}


def _as_int(resource: pulumi.CustomResource) -> pulumi.Output[int]:
    # The hcloud provider takes numeric ids where other resources hand out string ids.
    return resource.id.apply(int)


class HetznerStack(NodesComponent):
    """One or more Hetzner Cloud servers for a tier, behind a load balancer when N > 1."""

    def __init__(self, spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybridctl:stacks:HetznerStack", spec.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"managed-by": "hybridctl", "deployment": spec.name, "tier": _label(spec.tier_id)}

        key = hcloud.SshKey(
            f"{spec.name}-admin",
            name=f"{spec.name}-admin",
            public_key=spec.ssh_public_key,
            labels=labels,
            opts=child,
        )
        firewall = hcloud.Firewall(
            f"{spec.name}-fw",
            name=f"{spec.name}-fw",
            rules=_firewall_rules(spec.admin_cidr),
            labels=labels,
            opts=child,
        )
        user_data = pulumi.Output.secret(spec.user_data)
        image = spec.image or HETZNER.support.default_image

        servers: list[hcloud.Server] = []
        addresses: list[pulumi.Output[str]] = []
        for index in range(spec.node_count):
            node = _node_name(spec, index)
            primary_ip = hcloud.PrimaryIp(
                f"{node}-ipv4",
                name=f"{node}-ipv4",
                type="ipv4",
                location=spec.region,
                assignee_type="server",
                auto_delete=False,
                labels=labels,
                opts=child,
            )
            server = hcloud.Server(
                node,
                name=node,
                server_type=spec.instance_type,
                location=spec.region,
                image=image,
                ssh_keys=[key.id],
                firewall_ids=[_as_int(firewall)],
                user_data=user_data,
                public_nets=[
                    {"ipv4_enabled": True, "ipv4": _as_int(primary_ip), "ipv6_enabled": True}
                ],
                keep_disk=True,
                labels={**labels, "node": str(index)},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # A tier change resizes the server in place; a new bundle is pushed over SSH,
                    # so a changed user data must not replace the server (hcloud forces a new one).
                    ignore_changes=["user_data"],
                ),
            )
            volume = hcloud.Volume(
                f"{node}-models",
                name=f"{node}-models",
                size=spec.volume_gb,
                location=spec.region,
                format="ext4",
                labels=labels,
                opts=child,
            )
            hcloud.VolumeAttachment(
                f"{node}-models-attach",
                server_id=_as_int(server),
                volume_id=_as_int(volume),
                automount=False,  # cloud-init mounts it where the stack's models volume binds
                opts=child,
            )
            servers.append(server)
            addresses.append(primary_ip.ip_address)

        balancer = None
        private_ips: list[str] | None = None
        if spec.node_count > 1:
            balancer = _load_balancer(spec, servers, labels, child)
            private_ips = _private_network(spec, servers, labels, child)
        self._finish(
            spec,
            addresses,
            load_balancer_ip=balancer.ipv4 if balancer else None,
            private_ips=list(private_ips) if private_ips else None,
        )


def _firewall_rules(admin_cidr: str) -> list[hcloud.FirewallRuleArgsDict]:
    rules: list[hcloud.FirewallRuleArgsDict] = [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": str(SSH_PORT),
            "source_ips": [admin_cidr],
            "description": "SSH from the admin network only",
        }
    ]
    for port in WEB_PORTS:
        rules.append(
            {
                "direction": "in",
                "protocol": "tcp",
                "port": str(port),
                "source_ips": ANYWHERE,
                "description": "HTTPS gateway" if port == 443 else "HTTP (redirect, ACME)",
            }
        )
    return rules


def _private_network(
    spec: DeploySpec,
    servers: list[hcloud.Server],
    labels: dict[str, str],
    child: pulumi.ResourceOptions,
) -> list[str]:
    """A private network for the nodes (node 0's Redis is shared there); their fixed IPs.

    Hetzner's firewall filters public interfaces only; the private network reaches these
    servers alone.
    """
    zone = NETWORK_ZONES.get(spec.region, "eu-central")
    network = hcloud.Network(
        f"{spec.name}-net",
        name=f"{spec.name}-net",
        ip_range=NETWORK_RANGE,
        labels=labels,
        opts=child,
    )
    subnet = hcloud.NetworkSubnet(
        f"{spec.name}-subnet",
        network_id=_as_int(network),
        type="cloud",
        network_zone=zone,
        ip_range=PRIVATE_RANGE,
        opts=child,
    )
    ips = []
    for index, server in enumerate(servers):
        ip = private_ip(index)
        hcloud.ServerNetwork(
            f"{_node_name(spec, index)}-net",
            server_id=_as_int(server),
            subnet_id=subnet.id,
            ip=ip,
            opts=child,
        )
        ips.append(ip)
    return ips


def _load_balancer(
    spec: DeploySpec,
    servers: list[hcloud.Server],
    labels: dict[str, str],
    child: pulumi.ResourceOptions,
) -> hcloud.LoadBalancer:
    balancer = hcloud.LoadBalancer(
        f"{spec.name}-lb",
        name=f"{spec.name}-lb",
        load_balancer_type=LOAD_BALANCER_TYPE,
        location=spec.region,
        algorithm={"type": "round_robin"},
        labels=labels,
        opts=child,
    )
    for index, server in enumerate(servers):
        hcloud.LoadBalancerTarget(
            f"{_node_name(spec, index)}-lb-target",
            type="server",
            load_balancer_id=_as_int(balancer),
            server_id=_as_int(server),
            opts=child,
        )
    # TLS ends on each node's proxy, so the balancer passes TCP through and checks the gateway
    # behind that proxy over HTTPS.
    for port in WEB_PORTS:
        hcloud.LoadBalancerService(
            f"{spec.name}-lb-{port}",
            load_balancer_id=balancer.id,
            protocol="tcp",
            listen_port=port,
            destination_port=port,
            health_check={
                "protocol": "http",
                "port": HEALTH_CHECK_PORT,
                "interval": 15,
                "timeout": 10,
                "retries": 3,
                "http": {"path": GATEWAY_HEALTH_PATH, "status_codes": ["2??"], "tls": True},
            },
            opts=child,
        )
    return balancer


def _node_name(spec: DeploySpec, index: int) -> str:
    return spec.name if spec.node_count == 1 else f"{spec.name}-{index + 1}"


def _label(value: str) -> str:
    # Hetzner label values allow letters, digits, '-', '_' and '.'.
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in value)
