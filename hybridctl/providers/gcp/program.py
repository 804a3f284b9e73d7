"""GCP's Pulumi program: Shielded VMs, own VPC and firewall, static IPs, disks, regional NLB."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from hybridctl.providers.component import NodesComponent
from hybridctl.providers.gcp import GCP, region_of, zone_for
from hybridctl.providers.spec import (
    HEALTH_CHECK_PORT,
    PRIVATE_RANGE,
    SHARED_STORE_PORT,
    SSH_PORT,
    WEB_PORTS,
    DeploySpec,
    default_ssh_user,
    private_ip,
)
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH

SUBNET_RANGE = PRIVATE_RANGE
GPU_TYPE = "nvidia-tesla-t4"
MODELS_DEVICE = "models"  # appears in the guest as /dev/disk/by-id/google-models


class GcpStack(NodesComponent):
    """One or more Shielded VM instances for a tier, behind a regional passthrough NLB when N > 1.

    The program creates its own VPC network: the project's `default` network usually carries
    `default-allow-ssh` (22 open to the world), which would break the SSH policy.
    """

    def __init__(self, spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybridctl:stacks:GcpStack", spec.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zone = zone_for(spec.region)
        region = region_of(zone)
        labels = {"managed-by": "hybridctl", "deployment": spec.name, "tier": _label(spec.tier_id)}
        tag = f"hybridctl-{spec.name}"
        ssh_user = default_ssh_user(spec)

        network = gcp.compute.Network(
            f"{spec.name}-net",
            name=f"{spec.name}-net",
            auto_create_subnetworks=False,
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{spec.name}-subnet",
            name=f"{spec.name}-subnet",
            region=region,
            network=network.id,
            ip_cidr_range=SUBNET_RANGE,
            opts=child,
        )
        gcp.compute.Firewall(
            f"{spec.name}-allow-ssh",
            name=f"{spec.name}-allow-ssh",
            network=network.id,
            direction="INGRESS",
            allows=[{"protocol": "tcp", "ports": [str(SSH_PORT)]}],
            source_ranges=[spec.admin_cidr],
            target_tags=[tag],
            description="SSH from the admin network only",
            opts=child,
        )
        gcp.compute.Firewall(
            f"{spec.name}-allow-web",
            name=f"{spec.name}-allow-web",
            network=network.id,
            direction="INGRESS",
            allows=[{"protocol": "tcp", "ports": [str(port) for port in WEB_PORTS]}],
            # Also covers the load balancer's health-check probes (35.191.0.0/16 and others).
            source_ranges=["0.0.0.0/0"],
            target_tags=[tag],
            description="HTTP and HTTPS to the gateway's proxy",
            opts=child,
        )
        if spec.node_count > 1:
            gcp.compute.Firewall(
                f"{spec.name}-allow-store",
                name=f"{spec.name}-allow-store",
                network=network.id,
                direction="INGRESS",
                allows=[{"protocol": "tcp", "ports": [str(SHARED_STORE_PORT)]}],
                source_ranges=[SUBNET_RANGE],
                target_tags=[tag],
                description="node 0's Redis (shared cache and spend store), nodes only",
                opts=child,
            )

        metadata: dict[str, pulumi.Input[str]] = {
            "user-data": pulumi.Output.secret(spec.user_data),
            "ssh-keys": f"{ssh_user}:{spec.ssh_public_key.strip()}",
            "block-project-ssh-keys": "TRUE",
            "enable-oslogin": "FALSE",
        }
        image = spec.image or GCP.support.default_image
        accelerators: list[gcp.compute.InstanceGuestAcceleratorArgsDict] | None = None
        scheduling: gcp.compute.InstanceSchedulingArgsDict | None = None
        if spec.gpu:
            accelerators = [{"type": GPU_TYPE, "count": 1}]
            # GPUs cannot live-migrate: the instance stops for host maintenance.
            scheduling = {"on_host_maintenance": "TERMINATE", "automatic_restart": True}

        instances: list[gcp.compute.Instance] = []
        addresses: list[pulumi.Output[str]] = []
        for index in range(spec.node_count):
            node = spec.name if spec.node_count == 1 else f"{spec.name}-{index + 1}"
            address = gcp.compute.Address(
                f"{node}-ip",
                name=f"{node}-ip",
                region=region,
                address_type="EXTERNAL",
                labels=labels,
                opts=child,
            )
            disk = gcp.compute.Disk(
                f"{node}-models",
                name=f"{node}-models",
                zone=zone,
                size=spec.volume_gb,
                type="pd-balanced",
                labels=labels,
                opts=child,
            )
            instance = gcp.compute.Instance(
                node,
                name=node,
                machine_type=spec.instance_type,
                zone=zone,
                boot_disk={
                    "initialize_params": {
                        "image": image,
                        "size": spec.disk_gb,
                        "type": "pd-balanced",
                    }
                },
                attached_disks=[{"source": disk.self_link, "device_name": MODELS_DEVICE}],
                network_interfaces=[
                    {
                        "subnetwork": subnet.id,
                        "network_ip": private_ip(index),
                        "access_configs": [{"nat_ip": address.address}],
                    }
                ],
                metadata=metadata,
                shielded_instance_config={
                    "enable_secure_boot": True,
                    "enable_vtpm": True,
                    "enable_integrity_monitoring": True,
                },
                tags=[tag],
                labels=labels,
                # A tier change stops the instance to change its machine type.
                allow_stopping_for_update=True,
                guest_accelerators=accelerators,
                scheduling=scheduling,
                opts=child,
            )
            instances.append(instance)
            addresses.append(address.address)

        balancer_ip = (
            _regional_load_balancer(spec, zone, region, instances, labels, child)
            if spec.node_count > 1
            else None
        )
        self._finish(
            spec,
            addresses,
            load_balancer_ip=balancer_ip,
            private_ips=[private_ip(i) for i in range(spec.node_count)] if balancer_ip else None,
        )


def _regional_load_balancer(
    spec: DeploySpec,
    zone: str,
    region: str,
    instances: list[gcp.compute.Instance],
    labels: dict[str, str],
    child: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """A regional external passthrough NLB (backend service) on 80 and 443; returns its IP."""
    group = gcp.compute.InstanceGroup(
        f"{spec.name}-group",
        name=f"{spec.name}-group",
        zone=zone,
        instances=[instance.self_link for instance in instances],
        opts=child,
    )
    health = gcp.compute.RegionHealthCheck(
        f"{spec.name}-health",
        name=f"{spec.name}-health",
        region=region,
        https_health_check={"port": HEALTH_CHECK_PORT, "request_path": GATEWAY_HEALTH_PATH},
        check_interval_sec=15,
        timeout_sec=10,
        healthy_threshold=2,
        unhealthy_threshold=3,
        opts=child,
    )
    backend = gcp.compute.RegionBackendService(
        f"{spec.name}-backend",
        name=f"{spec.name}-backend",
        region=region,
        load_balancing_scheme="EXTERNAL",
        protocol="TCP",
        health_checks=health.id,
        backends=[{"group": group.self_link, "balancing_mode": "CONNECTION"}],
        opts=child,
    )
    address = gcp.compute.Address(
        f"{spec.name}-lb-ip",
        name=f"{spec.name}-lb-ip",
        region=region,
        address_type="EXTERNAL",
        labels=labels,
        opts=child,
    )
    gcp.compute.ForwardingRule(
        f"{spec.name}-lb",
        name=f"{spec.name}-lb",
        region=region,
        load_balancing_scheme="EXTERNAL",
        ip_protocol="TCP",
        ports=[str(port) for port in WEB_PORTS],
        ip_address=address.address,
        backend_service=backend.id,
        labels=labels,
        opts=child,
    )
    return address.address


def _label(value: str) -> str:
    # GCP label values allow lower-case letters, digits, '-' and '_'.
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())
