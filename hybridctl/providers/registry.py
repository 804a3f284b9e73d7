"""The provider registry: every place hybridctl runs a box; the rest of the code asks it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hybridctl.errors import InputError, UsageError
from hybridctl.providers.base import Cloud, Provider, ProviderSupport
from hybridctl.providers.names import CLOUDS, DEFAULT_CLOUD, LOCAL
from hybridctl.providers.spec import DeploySpec
from hybridctl.suggest import close_matches

if TYPE_CHECKING:
    import pulumi

__all__ = [
    "CLOUDS",
    "CLOUD_REGISTRY",
    "DEFAULT_CLOUD",
    "PROVIDERS",
    "check_spec",
    "create_stack",
    "get_cloud",
    "get_provider",
    "is_local",
    "require_extra_for",
    "support_of",
]


def _record(name: str) -> Provider:
    return getattr(importlib.import_module(f"hybridctl.providers.{name}"), name.upper())


# Adding a cloud: its package under hybridctl/providers/, its name in names.py, its offers in
# the catalog.
PROVIDERS: dict[str, Provider] = {name: _record(name) for name in (*CLOUDS, LOCAL)}
CLOUD_REGISTRY: dict[str, Cloud] = {n: p for n, p in PROVIDERS.items() if isinstance(p, Cloud)}


def get_provider(name: str, *, option: str = "--provider") -> Provider:
    """The provider called `name`; an unknown one gets a 'did you mean' and the list."""
    found = PROVIDERS.get(name.lower())
    if found is None:
        close = close_matches(name.lower(), PROVIDERS)
        raise UsageError(
            f"unknown provider {name!r} ({option})" + (f"; did you mean {close}?" if close else ""),
            hint=f"Choose one of: {', '.join(PROVIDERS)}.",
        )
    return found


def get_cloud(name: str) -> Cloud:
    """The cloud called `name` (Pulumi-deployed); anything else is an input error."""
    found = CLOUD_REGISTRY.get(name)
    if found is None:
        raise InputError(f"unknown provider {name!r}", hint=f"Choose one of: {', '.join(CLOUDS)}.")
    return found


def require_extra_for(name: str) -> None:
    """Refuse, before any work, a cloud whose Pulumi packages ([deploy]) are not installed."""
    from hybridctl.extras import require_extra

    found = PROVIDERS.get(name.lower())
    if found is not None and found.kind == "cloud":
        require_extra("deploy")


def support_of(name: str) -> ProviderSupport | None:
    """What the cloud called `name` supports; None for this machine or an unknown name."""
    found = CLOUD_REGISTRY.get(name)
    return None if found is None else found.support


def check_spec(spec: DeploySpec) -> None:
    """Refuse a spec its cloud's program cannot build or that breaks policy; say why."""
    get_cloud(spec.provider).check(spec)


def create_stack(spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> Any:
    """Check the spec, then build its cloud's ComponentResource inside a Pulumi program."""
    return get_cloud(spec.provider).build(spec, opts)


def is_local(name: str) -> bool:
    """True for the provider that runs boxes on this machine (no SSH, no cloud)."""
    found = PROVIDERS.get(name)
    return found is not None and found.kind == "local"
