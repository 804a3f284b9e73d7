"""Google Cloud: what hybridctl can build there, its zones, credentials, plugin and plan data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridctl.errors import UsageError
from hybridctl.providers.base import (
    Cloud,
    MockData,
    ProviderConfig,
    ProviderSupport,
    missing_credentials,
)

SUPPORT = ProviderSupport(
    default_image="ubuntu-os-cloud/ubuntu-2404-lts-amd64",
    image_login="ubuntu",
    gpu=True,
    load_balancer="regional external passthrough Network Load Balancer (backend service), "
    "HTTPS health check on the gateway",
    max_nodes=50,
    volume_gb_min=10,
    volume_gb_max=65536,
    user_data_max_bytes=256 * 1024,
    user_data_gzip=False,
    models_device="/dev/disk/by-id/google-models; unformatted",
    resize="in place with downtime: the instance is stopped (allow_stopping_for_update), "
    "its machine type changed, and started",
    resize_downtime="GCP stops the VM to change its machine type (minutes of downtime; the "
    "static IP and disks are kept)",
    unsupported={"more_than_50_nodes": "kept below the default per-region CPU quota"},
    notes=("GPU tiers attach one nvidia-tesla-t4 and stop (not migrate) on maintenance",),
    live_metadata=True,
)

# Regions whose zones start at "b" (there is no "-a" zone).
_FIRST_ZONE = {"us-east1": "b", "europe-west1": "b"}
_PROJECT_VARIABLES = ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")


def zone_for(region: str) -> str:
    """The zone to use: the region itself when it already names a zone, else its first zone."""
    parts = region.split("-")
    if len(parts) == 3 and len(parts[2]) == 1:
        return region
    return f"{region}-{_FIRST_ZONE.get(region, 'a')}"


def region_of(zone: str) -> str:
    """The region a zone is in (a region is its own region)."""
    return zone.rsplit("-", 1)[0] if len(zone.split("-")) == 3 else zone


def region_and_zone(location: str) -> tuple[str, str]:
    """(region, zone) from either, chosen as the program chooses them."""
    zone = zone_for(location)
    return region_of(zone), zone


def _credentials_source(env: Mapping[str, str]) -> tuple[str, Path | None, str | None]:
    """(source, credentials file or None, inline JSON or None)."""
    inline = env.get("GOOGLE_CREDENTIALS", "").strip()
    if inline:
        if inline.startswith("{"):
            return "GOOGLE_CREDENTIALS", None, inline
        return "GOOGLE_CREDENTIALS", Path(inline), None
    path = env.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    if path:
        if not Path(path).is_file():
            raise UsageError(
                f"GOOGLE_APPLICATION_CREDENTIALS points to {path}, which does not exist",
                hint="Point it at a service-account JSON key file.",
            )
        return "GOOGLE_APPLICATION_CREDENTIALS", Path(path), None
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("CLOUDSDK_CONFIG") or home / ".config" / "gcloud")
    adc = config_home / "application_default_credentials.json"
    if adc.is_file():
        return str(adc), adc, None
    raise missing_credentials(
        "GOOGLE_CREDENTIALS",
        "Google Cloud credentials",
        "export GOOGLE_CREDENTIALS (service-account JSON or its path) or "
        "GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`; "
        "use --plan to preview without them.",
    )


def _project_in(path: Path | None, inline: str | None) -> str | None:
    try:
        text = inline if inline is not None else path.read_text() if path else "{}"
        data = json.loads(text)
        return data.get("project_id") or data.get("quota_project_id")
    except (OSError, ValueError, AttributeError):
        return None


def credentials(location: str, env: Mapping[str, str]) -> ProviderConfig:
    """A service-account key or application-default credentials, and the project to bill."""
    source, path, inline = _credentials_source(env)
    project = next((env[v] for v in _PROJECT_VARIABLES if env.get(v)), None)
    project = project or _project_in(path, inline)
    if not project:
        raise missing_credentials(
            "GOOGLE_PROJECT",
            "the Google Cloud project",
            "export GOOGLE_PROJECT=<project id> (it could not be read from the credentials).",
        )
    region, zone = region_and_zone(location)
    plain = {"gcp:project": project, "gcp:region": region, "gcp:zone": zone}
    return ProviderConfig("gcp", plain=plain, source=source)


def _mock_outputs(type_token: str, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
    if type_token == "gcp:compute/address:Address":
        return {**inputs, "address": f"192.0.2.{ordinal % 250 + 1}"}  # RFC 5737
    return {**inputs, "selfLink": f"https://compute.googleapis.example/{ordinal}"}


MOCKS = MockData(
    key_properties={
        "gcp:compute/network:Network": ("name", "autoCreateSubnetworks"),
        "gcp:compute/subnetwork:Subnetwork": ("name", "region", "ipCidrRange"),
        "gcp:compute/firewall:Firewall": ("name", "allows", "sourceRanges", "targetTags"),
        "gcp:compute/address:Address": ("name", "region", "addressType"),
        "gcp:compute/disk:Disk": ("name", "zone", "size", "type"),
        "gcp:compute/instance:Instance": (
            "name",
            "machineType",
            "zone",
            "bootDisk",
            "shieldedInstanceConfig",
            "guestAccelerators",
            "scheduling",
            "metadata",
        ),
        "gcp:compute/instanceGroup:InstanceGroup": ("name", "zone"),
        "gcp:compute/regionHealthCheck:RegionHealthCheck": ("name", "httpsHealthCheck"),
        "gcp:compute/regionBackendService:RegionBackendService": (
            "name",
            "loadBalancingScheme",
            "protocol",
        ),
        "gcp:compute/forwardingRule:ForwardingRule": ("name", "ports", "ipProtocol"),
    },
    outputs=_mock_outputs,
)

GCP = Cloud(
    name="gcp",
    title="Google Cloud",
    support=SUPPORT,
    plugin="gcp",
    program="hybridctl.providers.gcp.program:GcpStack",
    credentials=credentials,
    mocks=MOCKS,
)
