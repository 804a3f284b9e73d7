"""The provider registry: every place hybridctl runs a box, and how it is deployed there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hybridctl.errors import UsageError
from hybridctl.suggest import close_matches

Kind = Literal["cloud", "local"]


@dataclass(frozen=True)
class Provider:
    """One place a box runs: a cloud through Pulumi, or this machine through Docker Compose."""

    name: str
    title: str
    kind: Kind
    needs: str  # what must be installed to deploy there

    def deployer(self, console: Any, confirm: Callable[[str], bool]) -> Any:
        """The driver that deploys, inspects and destroys boxes here (imported on use)."""
        if self.kind == "local":
            from hybridctl.deploy.local import LocalDeployer

            return LocalDeployer(console, confirm=confirm)
        from hybridctl.deploy.driver import Deployer

        return Deployer(console, confirm=confirm)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("hetzner", "Hetzner Cloud", "cloud", "the Pulumi CLI and hybridctl[deploy]"),
        Provider("aws", "Amazon Web Services", "cloud", "the Pulumi CLI and hybridctl[deploy]"),
        Provider("gcp", "Google Cloud", "cloud", "the Pulumi CLI and hybridctl[deploy]"),
        Provider("local", "this machine", "local", "Docker Engine with the Compose v2 plugin"),
    )
}
CLOUDS = tuple(name for name, p in PROVIDERS.items() if p.kind == "cloud")


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
