"""A deploy's Pulumi session: config keys, the inline program, the backend, the opened stack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hybridctl.deploy.pulumi.automation import StackHandle
from hybridctl.deploy.pulumi.passphrase import Passphrase
from hybridctl.paths import state_dir
from hybridctl.providers.base import ProviderConfig
from hybridctl.providers.spec import OUTPUT_NAMES, DeploySpec

HOST_KEY_CONFIG = "hybridctl:hostKeyPrivate"  # secret; base64 of the OpenSSH private key
HOST_KEY_PUBLIC_CONFIG = "hybridctl:hostKeyPublic"


def default_backend_url() -> str:
    """Pulumi's local file backend under hybridctl's state directory (no account needed)."""
    return (state_dir() / "pulumi").resolve().as_uri()


def make_program(spec_box: dict[str, DeploySpec]) -> Callable[[], None]:
    """The inline Pulumi program: the provider's component, and its outputs as stack outputs."""

    def program() -> None:
        import pulumi

        from hybridctl.providers.registry import create_stack

        component = create_stack(spec_box["spec"])
        for key in OUTPUT_NAMES:
            value = getattr(component, key, None)
            if value is not None:
                pulumi.export(key, value)

    return program


@dataclass
class Session:
    """An opened stack with everything needed to run operations on it."""

    stack: StackHandle
    passphrase: Passphrase
    config: ProviderConfig | None
    backend_url: str
    extra_secrets: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        """Every secret value this session knows, so no message or progress line shows one."""
        values = [self.passphrase.value, *self.extra_secrets]
        if self.config is not None:
            values.extend(self.config.secret.values())
        return values
