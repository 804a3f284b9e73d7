"""Tests of the provider registry, the deploy spec checks and the host key fingerprint."""

from __future__ import annotations

import dataclasses
import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from hybridctl.errors import InputError
from hybridctl.providers.registry import CLOUD_REGISTRY, check_spec, get_cloud
from hybridctl.providers.spec import DeploySpec, host_key_fingerprint, short_name
from tests.stacks_fixtures import KeyPair, catalog, deployable_offers, make_ed25519, spec_for

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    directory: Path = tmp_path_factory.mktemp("keys")
    return make_ed25519(directory, "host"), make_ed25519(directory, "admin")


@pytest.fixture
def spec(keys) -> DeploySpec:
    tier, offer = deployable_offers("hetzner")[0]
    return spec_for(tier, offer, *keys)


def with_(spec: DeploySpec, **changes: object) -> DeploySpec:
    return dataclasses.replace(spec, **changes)


def test_fingerprint_matches_ssh_keygen(keys) -> None:
    host, admin = keys
    assert host_key_fingerprint(host.public_openssh) == host.fingerprint
    assert host_key_fingerprint(admin.public_openssh) == admin.fingerprint
    assert host.fingerprint != admin.fingerprint


def test_fingerprint_refuses_garbage() -> None:
    with pytest.raises(InputError):
        host_key_fingerprint("ssh-ed25519")
    with pytest.raises(InputError):
        host_key_fingerprint("ssh-ed25519 not*base64")


def test_valid_spec_passes(spec: DeploySpec) -> None:
    check_spec(spec)


def test_user_data_is_not_in_repr(spec: DeploySpec) -> None:
    assert "PRIVATE KEY" in spec.user_data
    assert "PRIVATE KEY" not in repr(spec)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider": "azure"}, "unknown provider 'azure'"),
        ({"name": "Bad_Name"}, "not usable as a cloud resource name"),
        ({"gpu": True}, "needs a GPU"),
        ({"node_count": 0}, "at least 1"),
        ({"node_count": 26}, "at most 25 nodes"),
        ({"volume_gb": 5}, "volume must be 10-10240 GB"),
        ({"admin_cidr": "0.0.0.0/0"}, "whole internet"),
        ({"admin_cidr": "::/0"}, "whole internet"),
        ({"admin_cidr": "my-laptop"}, "not an IP network"),
        ({"ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "admin SSH public key"),
        ({"user_data": "#cloud-config\n"}, "does not contain the pinned SSH host key"),
        ({"instance_type": " "}, "instance type is empty"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec: DeploySpec, changes, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        check_spec(with_(spec, **changes))
    assert caught.value.exit_code == 2


def test_gpu_allowed_where_supported(keys) -> None:
    gpu_offers = [(t, o) for p in ("aws", "gcp") for t, o in deployable_offers(p) if t.gpu]
    assert gpu_offers
    for tier, offer in gpu_offers:
        check_spec(spec_for(tier, offer, *keys))


def test_support_table_agrees_with_catalog() -> None:
    """Providers that cannot host GPUs have no offer for a GPU tier, and say why."""
    for tier in catalog().tiers:
        if tier.gpu is None:
            continue
        for provider, cloud in CLOUD_REGISTRY.items():
            support = cloud.support
            offered = any(o.provider == provider and not o.reference_only for o in tier.offers)
            if not support.gpu:
                assert not offered, f"{provider} has an offer for GPU tier {tier.id}"
                assert "gpu" in support.unsupported


def test_aws_user_data_is_gzipped_only_when_too_big(spec: DeploySpec) -> None:
    small = with_(spec, provider="aws")
    user_data_payload = get_cloud("aws").support.user_data_payload
    assert user_data_payload(small.user_data) == small.user_data.encode()
    big = with_(small, user_data=small.user_data + "#" + "y" * 20_000 + "\n")
    payload = user_data_payload(big.user_data)
    assert payload[:2] == b"\x1f\x8b"
    assert gzip.decompress(payload).decode() == big.user_data
    assert user_data_payload(big.user_data) == payload  # deterministic: no timestamp in the header
    check_spec(big)


def test_short_name() -> None:
    assert short_name("prod", 27) == "prod"
    long = "a-very-long-deployment-name-indeed"
    short = short_name(long, 27)
    assert len(short) <= 27
    assert short != short_name(long + "2", 27)


def test_provider_registry_does_not_import_pulumi() -> None:
    """The registry is reachable from the CLI; pulumi must load only when a stack is built."""
    code = (
        "import sys, hybridctl.providers.registry, hybridctl.providers.mock_run; "
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
