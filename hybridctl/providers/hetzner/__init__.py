"""Hetzner Cloud: what hybridctl can build there, its credentials, plugin and offline plan data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridctl.providers.base import (
    Cloud,
    MockData,
    ProviderConfig,
    ProviderSupport,
    required_variable,
)

SUPPORT = ProviderSupport(
    default_image="ubuntu-24.04",
    image_login="root",
    gpu=False,
    load_balancer="Hetzner Cloud Load Balancer (lb11), TCP 80/443 passthrough, "
    "HTTPS health check on the gateway",
    max_nodes=25,  # lb11 serves at most 25 targets
    volume_gb_min=10,
    volume_gb_max=10240,
    user_data_max_bytes=32 * 1024,
    user_data_gzip=False,
    models_device="/dev/disk/by-id/scsi-0HC_Volume_<volume id>, formatted ext4; "
    "cloud-init mounts it at /var/lib/hybridctl/models",
    resize="in place with downtime: the server is powered off, resized (disk kept, so a "
    "later downgrade stays possible) and started again",
    resize_downtime="Hetzner powers the server off to change its server type (a few minutes of "
    "downtime; the disk, volume and IP are kept)",
    unsupported={
        "gpu": "Hetzner Cloud has no GPU server types (GPU machines are dedicated servers "
        "outside the Cloud API); choose aws or gcp for a GPU tier",
        "more_than_25_nodes": "the lb11 load balancer takes at most 25 targets",
    },
)


TOKEN_ENV = "HCLOUD_TOKEN"  # the Hetzner Cloud API token: deploys and the price list


def credentials(region: str, env: Mapping[str, str]) -> ProviderConfig:
    """HCLOUD_TOKEN, as the hcloud provider's secret config (the location needs no config)."""
    token = required_variable(
        env,
        TOKEN_ENV,
        "Hetzner Cloud credentials",
        "Create an API token (Read & Write) in the Hetzner Cloud Console under Security > "
        "API tokens, then `export HCLOUD_TOKEN=...` (use --plan to preview without one).",
    )
    return ProviderConfig("hetzner", secret={"hcloud:token": token}, source=TOKEN_ENV)


def _mock_outputs(type_token: str, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
    ip = f"192.0.2.{ordinal % 250 + 1}"  # documentation addresses (RFC 5737)
    computed = {
        "hcloud:index/primaryIp:PrimaryIp": {"ipAddress": ip},
        "hcloud:index/server:Server": {"ipv4Address": ip},
        "hcloud:index/loadBalancer:LoadBalancer": {"ipv4": ip},
    }
    return {**inputs, **computed.get(type_token, {})}


MOCKS = MockData(
    key_properties={
        "hcloud:index/sshKey:SshKey": ("name",),
        "hcloud:index/firewall:Firewall": ("name", "rules"),
        "hcloud:index/primaryIp:PrimaryIp": ("type", "location"),
        "hcloud:index/server:Server": ("name", "serverType", "location", "image", "userData"),
        "hcloud:index/volume:Volume": ("name", "size", "location", "format"),
        "hcloud:index/volumeAttachment:VolumeAttachment": ("automount",),
        "hcloud:index/loadBalancer:LoadBalancer": ("name", "loadBalancerType", "location"),
        "hcloud:index/loadBalancerTarget:LoadBalancerTarget": ("type",),
        "hcloud:index/loadBalancerService:LoadBalancerService": (
            "protocol",
            "listenPort",
            "destinationPort",
            "healthCheck",
        ),
    },
    outputs=_mock_outputs,
)

HETZNER = Cloud(
    name="hetzner",
    title="Hetzner Cloud",
    support=SUPPORT,
    plugin="hcloud",
    program="hybridctl.providers.hetzner.program:HetznerStack",
    credentials=credentials,
    mocks=MOCKS,
)
