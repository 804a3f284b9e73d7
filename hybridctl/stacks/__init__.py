"""Pulumi programs for Hetzner, AWS and GCP behind one small interface (pulumi loads lazily)."""

from hybridctl.stacks.base import (
    PROVIDERS,
    SUPPORTED,
    DeploySpec,
    ProviderSupport,
    check_spec,
    create_stack,
    host_key_fingerprint,
)

__all__ = [
    "PROVIDERS",
    "SUPPORTED",
    "DeploySpec",
    "ProviderSupport",
    "check_spec",
    "create_stack",
    "host_key_fingerprint",
]
