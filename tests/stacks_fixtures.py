"""Shared helpers for the stack tests: real ed25519 keys, cloud-init user data, specs per offer."""

from __future__ import annotations

import atexit
import functools
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hybridctl.catalog import load_catalog
from hybridctl.catalog.schema import Catalog, Offer, Tier
from hybridctl.providers.spec import DeploySpec

if TYPE_CHECKING:
    from hybridctl.providers.mock_run import ProgramRun, RecordedResource

ADMIN_CIDR = "203.0.113.7/32"


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str
    public_openssh: str
    fingerprint: str  # as `ssh-keygen -lf` prints it


def make_ed25519(directory: Path, name: str) -> KeyPair:
    """A real ed25519 key made by ssh-keygen, with ssh-keygen's own SHA256 fingerprint."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
    )
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path) + ".pub"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return KeyPair(
        private_openssh=path.read_text(),
        public_openssh=(path.parent / f"{name}.pub").read_text().strip(),
        fingerprint=listing.split()[1],
    )


def cloud_config(host: KeyPair, admin: KeyPair, padding: int = 0) -> str:
    """User data that pins the host key the way the rendered cloud-init does (`ssh_keys:`)."""
    private = "\n".join(f"    {line}" for line in host.private_openssh.strip().splitlines())
    filler = f"# {'x' * padding}\n" if padding else ""
    return (
        "#cloud-config\n"
        "ssh_deletekeys: true\n"
        "ssh_genkeytypes: []\n"
        "ssh_keys:\n"
        "  ed25519_private: |\n"
        f"{private}\n"
        f"  ed25519_public: {host.public_openssh}\n"
        "ssh_authorized_keys:\n"
        f"  - {admin.public_openssh}\n"
        f"{filler}"
    )


def catalog() -> Catalog:
    return load_catalog()


def deployable_offers(provider: str) -> list[tuple[Tier, Offer]]:
    """Every (tier, offer) the catalog lists for the provider that hybridctl deploys."""
    return [
        (tier, offer)
        for tier in catalog().tiers
        for offer in tier.offers
        if offer.provider == provider and not offer.reference_only
    ]


def volume_gb(cat: Catalog, tier: Tier) -> int:
    """Room for the tier's model files plus half again, at least 10 GB."""
    megabytes = sum(cat.models[entry.model].file_size_mb for entry in tier.models)
    return max(10, math.ceil(megabytes * 1.5 / 1000))


def spec_for(
    tier: Tier,
    offer: Offer,
    host: KeyPair,
    admin: KeyPair,
    *,
    nodes: int = 1,
    user_data: str | None = None,
) -> DeploySpec:
    return DeploySpec(
        name=f"t{tier.id.replace('.', '-')}-{offer.provider}",
        provider=offer.provider,
        tier_id=tier.id,
        instance_type=offer.instance_type,
        region=offer.region,
        ssh_public_key=admin.public_openssh,
        admin_cidr=ADMIN_CIDR,
        user_data=user_data if user_data is not None else cloud_config(host, admin),
        host_key_public=host.public_openssh,
        volume_gb=volume_gb(catalog(), tier),
        disk_gb=int(tier.disk_gb),
        node_count=nodes,
        gpu=tier.gpu is not None,
    )


def offer_id(pair: tuple[Tier, Offer]) -> str:
    return f"tier{pair[0].id}-{pair[1].instance_type}"


@functools.cache
def stack_keys() -> tuple[KeyPair, KeyPair]:
    """A host and an admin ed25519 key pair, made once per test run."""
    directory = Path(tempfile.mkdtemp(prefix="hybridctl-keys-"))
    atexit.register(shutil.rmtree, directory, True)
    return make_ed25519(directory, "host"), make_ed25519(directory, "admin")


def only(run: ProgramRun, type_token: str) -> RecordedResource:
    found = run.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, got {len(found)}"
    return found[0]
