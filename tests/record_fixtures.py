"""One made-up deployment record, for tests that need a deployment to exist (no box behind it)."""

from __future__ import annotations

from typing import Any

from hybridctl.catalog.deployments import DeploymentRecord, save_record

CLOUD_RECORD: dict[str, Any] = {
    "provider": "hetzner",
    "tier": "1",
    "region": "fsn1",
    "instance_type": "cx23",
    "nodes": 1,
    "admin_cidr": "203.0.113.7/32",
    "ssh_public_key": "ssh-ed25519 AAAA admin",
    "host_key_public": "ssh-ed25519 AAAA host",
    "host_key_fingerprint": "SHA256:x",
    "known_hosts": "known_hosts",
    "backend_url": "file://state",
    "monthly_usd": 10.0,
    "status": "deployed",
    "created": "2026-01-01T00:00:00+00:00",
    "updated": "2026-01-01T00:00:00+00:00",
}
# What a local box's record leaves empty: no server, no SSH, no Pulumi backend.
LOCAL_RECORD = {
    **CLOUD_RECORD,
    "provider": "local",
    "region": "local",
    "instance_type": "docker-compose",
    "admin_cidr": "127.0.0.1/32",
    "ssh_public_key": "",
    "host_key_public": "",
    "host_key_fingerprint": "",
    "known_hosts": "",
    "backend_url": "",
    "monthly_usd": 0.0,
}


def save_test_record(name: str, base: dict[str, Any] = CLOUD_RECORD, **fields: Any) -> None:
    """Save a deployment record named `name`: `base` (a cloud box by default) with `fields`."""
    save_record(DeploymentRecord(name=name, **{**base, **fields}))
