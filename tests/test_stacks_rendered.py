"""The programs with the real rendered cloud-init: it fits each provider and reaches the server."""

from __future__ import annotations

import base64
import dataclasses
import gzip
from pathlib import Path

import pytest

from hybridctl.providers.mock_run import run_program
from hybridctl.providers.registry import CLOUDS, check_spec
from hybridctl.providers.spec import DeploySpec
from hybridctl.stackfacts import ADMIN_USER
from tests.stacks_fixtures import (
    ADMIN_CIDR,
    KeyPair,
    catalog,
    deployable_offers,
    make_ed25519,
    offer_id,
    spec_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_")

OFFERS = [pair for provider in CLOUDS for pair in deployable_offers(provider)]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    directory: Path = tmp_path_factory.mktemp("keys")
    return make_ed25519(directory, "host"), make_ed25519(directory, "admin")


def rendered(tier_id: str, provider: str, host: KeyPair, admin: KeyPair) -> str:
    from hybridctl.render import render_user_data
    from hybridctl.render.cloud_init import SshHostKey

    return render_user_data(
        catalog(),
        tier_id,
        provider,
        admin_ssh_public_key=admin.public_openssh,
        admin_cidr=ADMIN_CIDR,
        ssh_host_key=SshHostKey(
            private_openssh=host.private_openssh, public_openssh=host.public_openssh
        ),
        with_bundle=False,  # as `deploy` renders it: the bundle follows over SSH
    )


def test_admin_login_is_the_user_cloud_init_creates(keys) -> None:
    tier, _ = deployable_offers("hetzner")[0]
    login = {f.name: f.default for f in dataclasses.fields(DeploySpec)}["ssh_user"]
    assert login == ADMIN_USER  # the login deploy and ops use
    assert f"name: {ADMIN_USER}" in rendered(tier.id, "hetzner", *keys)


@pytest.mark.parametrize("pair", OFFERS, ids=[f"{p[1].provider}-{offer_id(p)}" for p in OFFERS])
def test_rendered_user_data_reaches_the_server(pair, keys) -> None:
    tier, offer = pair
    host, admin = keys
    user_data = rendered(tier.id, offer.provider, host, admin)
    spec = spec_for(tier, offer, host, admin, user_data=user_data)
    check_spec(spec)  # fits the provider's user-data limit
    run = run_program(spec)
    if offer.provider == "hetzner":
        (server,) = run.of_type("hcloud:index/server:Server")
        sent, secret = server.inputs["userData"], "userData" in server.secret_inputs
    elif offer.provider == "aws":
        (server,) = run.of_type("aws:ec2/instance:Instance")
        if "userDataBase64" in server.inputs:
            sent = gzip.decompress(base64.b64decode(server.inputs["userDataBase64"])).decode()
            secret = "userDataBase64" in server.secret_inputs
        else:
            sent, secret = server.inputs["userData"], "userData" in server.secret_inputs
    else:
        (server,) = run.of_type("gcp:compute/instance:Instance")
        sent, secret = server.inputs["metadata"]["user-data"], "metadata" in server.secret_inputs
    assert sent == user_data
    assert secret
    assert host.public_openssh in sent
    assert "BEGIN OPENSSH PRIVATE KEY" in sent
    assert run.outputs["host_key_fingerprint"] == host.fingerprint
