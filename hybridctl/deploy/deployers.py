"""The driver that deploys, inspects and destroys boxes on a provider (imported on use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybridctl.providers.registry import get_provider


def deployer_for(name: str, console: Any, confirm: Callable[[str], bool]) -> Any:
    """Pulumi's Automation API driver for a cloud; Docker Compose for this machine."""
    if get_provider(name).kind == "local":
        from hybridctl.deploy.compose.local import LocalDeployer

        return LocalDeployer(console, confirm=confirm)
    return cloud_deployer(console, confirm)


def cloud_deployer(console: Any, confirm: Callable[[str], bool]) -> Any:
    """Pulumi's driver, which serves every cloud (it reads the provider from each stack)."""
    from hybridctl.deploy.pulumi.driver import Deployer

    return Deployer(console, confirm=confirm)
