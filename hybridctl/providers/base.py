"""What a provider declares: where boxes run, what it can build (and why not), how to reach it."""

from __future__ import annotations

import gzip
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hybridctl.errors import InputError, UsageError
from hybridctl.providers.admin_access import check_admin_cidr, check_ssh_public_key
from hybridctl.providers.spec import DeploySpec, host_key_fingerprint

if TYPE_CHECKING:  # pulumi is imported lazily: this module is reachable from the CLI
    import pulumi

Kind = Literal["cloud", "local"]

# Fits every cloud's resource names with our suffixes (GCP: 63); AWS load balancer and target
# group names (32) use `short_name`.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")
_LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Provider:
    """One place a box runs: a cloud through Pulumi, or this machine through Docker Compose."""

    name: str
    title: str
    needs: str  # what must be installed to deploy there
    kind: Kind = "local"


@dataclass(frozen=True)
class ProviderSupport:
    """What one cloud's program can build, and why it cannot build the rest."""

    default_image: str
    image_login: str
    """The image's own login, which hybridctl's cloud-init does not use (for reference)."""
    gpu: bool
    load_balancer: str
    max_nodes: int
    volume_gb_min: int
    volume_gb_max: int
    user_data_max_bytes: int
    user_data_gzip: bool
    """True where the program gzips user data that is too big (cloud-init unpacks it)."""
    models_device: str
    """Where the models volume appears inside the server (for cloud-init to mount it)."""
    resize: str
    """What changing the instance type (a tier change) does to the running server."""
    resize_downtime: str
    """The warning shown before a deploy that changes the instance type."""
    unsupported: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    live_metadata: bool = False
    """True where a changed user data reaches the running server in place (GCP's instance
    metadata, changed live by `setMetadata`); Hetzner and AWS would replace or stop the server
    (their stacks ignore user data changes)."""

    def user_data_payload(self, user_data: str) -> bytes:
        """The user data bytes as sent to the cloud: gzipped where it needs that to fit."""
        raw = user_data.encode()
        if self.user_data_gzip and len(raw) > self.user_data_max_bytes:
            # mtime=0 keeps the bytes the same from run to run, so Pulumi sees no spurious change.
            return gzip.compress(raw, mtime=0)
        return raw


@dataclass(frozen=True)
class ProviderConfig:
    """Stack config for a cloud: plain values, secrets (set through stdin), and their source."""

    provider: str
    plain: dict[str, str] = field(default_factory=dict)
    secret: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = ""


def missing_credentials(variable: str, what: str, how: str) -> UsageError:
    """The error for credentials that are not there: which variable, and how to set it."""
    return UsageError(f"{what} are missing: {variable} is not set", hint=how)


def required_variable(env: Mapping[str, str], variable: str, what: str, how: str) -> str:
    """A credential's value from the environment, or missing_credentials naming the variable."""
    value = env.get(variable, "").strip()
    if not value:
        raise missing_credentials(variable, what, how)
    return value


MockOutputs = Callable[[str, int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class MockData:
    """What the offline plan (Pulumi's mocks) needs to know about a cloud's resources."""

    key_properties: Mapping[str, tuple[str, ...]]
    """The inputs worth showing per resource type (wire names); other types show every input."""
    outputs: MockOutputs
    """Computed outputs a real deploy would fill in, for (type, ordinal, inputs)."""
    calls: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """What each data-source call (e.g. an image lookup) answers offline."""


@dataclass(frozen=True, kw_only=True)
class Cloud(Provider):
    """A cloud reached through Pulumi: its support, credentials, plugin and program."""

    needs: str = "the Pulumi CLI and hybridctl[deploy]"
    kind: Kind = "cloud"
    support: ProviderSupport
    plugin: str
    """The Pulumi resource plugin (`hcloud`), at the version of its Python package."""
    program: str
    """The Pulumi ComponentResource that builds a box, as 'module:Class' (imported on use)."""
    credentials: Callable[[str, Mapping[str, str]], ProviderConfig]
    """Check the credentials in an environment and build the stack config for a region."""
    mocks: MockData

    @property
    def package(self) -> str:
        """The Python provider package (`pulumi_hcloud`), whose version picks the plugin's."""
        return f"pulumi_{self.plugin}"

    def check(self, spec: DeploySpec) -> None:
        """Refuse a spec this cloud's program cannot build or that breaks policy; say why."""
        support = self.support
        if not _NAME.match(spec.name):
            raise InputError(
                f"deployment name {spec.name!r} is not usable as a cloud resource name",
                hint="Use 2-42 characters: lower-case letters, digits and '-', starting with a "
                "letter.",
            )
        if spec.gpu and not support.gpu:
            raise InputError(
                f"tier {spec.tier_id} needs a GPU, which {self.name} cannot provide: "
                f"{support.unsupported['gpu']}",
                hint="Pick a provider with GPU support (aws, gcp) or a CPU tier.",
            )
        if not _LINUX_USER.match(spec.ssh_user):
            raise InputError(f"SSH user {spec.ssh_user!r} is not a valid Linux user name")
        self._check_sizes(spec)
        check_admin_cidr(spec.admin_cidr)
        check_ssh_public_key(spec.ssh_public_key, "the admin SSH public key")
        check_ssh_public_key(spec.host_key_public, "the host public key")
        host_key_fingerprint(spec.host_key_public)
        if spec.host_key_public.split()[1] not in spec.user_data:
            raise InputError(
                "the rendered user data does not contain the pinned SSH host key",
                hint="Render the user data with the same host key that the deploy pins.",
            )
        size = len(support.user_data_payload(spec.user_data))
        if size > support.user_data_max_bytes:
            raise InputError(
                f"the rendered user data is {size} bytes"
                + (" gzipped" if support.user_data_gzip else "")
                + f"; {self.name} accepts at most {support.user_data_max_bytes}",
                hint="Render a smaller bundle (fewer services or files) for this provider.",
            )
        for label, value in (("instance type", spec.instance_type), ("region", spec.region)):
            if not value.strip():
                raise InputError(f"the {label} is empty")

    def _check_sizes(self, spec: DeploySpec) -> None:
        support = self.support
        if spec.node_count < 1:
            raise InputError(f"--nodes must be at least 1, got {spec.node_count}")
        if spec.node_count > support.max_nodes:
            reason = support.unsupported.get(f"more_than_{support.max_nodes}_nodes", "")
            raise InputError(
                f"{self.name} deployments take at most {support.max_nodes} nodes, "
                f"got {spec.node_count}" + (f": {reason}" if reason else ""),
                hint=f"Use --nodes {support.max_nodes} or fewer, or a bigger tier.",
            )
        if not support.volume_gb_min <= spec.volume_gb <= support.volume_gb_max:
            raise InputError(
                f"a {self.name} volume must be {support.volume_gb_min}-"
                f"{support.volume_gb_max} GB, got {spec.volume_gb}",
            )

    def build(self, spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> Any:
        """Check the spec, then build the cloud's ComponentResource inside a Pulumi program."""
        self.check(spec)
        module, _, cls = self.program.partition(":")
        return getattr(importlib.import_module(module), cls)(spec, opts)
