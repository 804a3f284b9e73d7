"""Policy tests of the Hetzner program under Pulumi's mocks, for every tier with a Hetzner offer."""

from __future__ import annotations

import pytest

from hybridctl.errors import InputError
from hybridctl.providers.mock_run import ProgramRun, RecordedResource, run_program
from hybridctl.providers.registry import check_spec, get_cloud
from hybridctl.providers.spec import PRIVATE_RANGE, private_ip
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH
from tests.stacks_fixtures import (
    ADMIN_CIDR,
    deployable_offers,
    offer_id,
    only,
    spec_for,
    stack_keys,
)

SERVER = "hcloud:index/server:Server"
FIREWALL = "hcloud:index/firewall:Firewall"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
VOLUME = "hcloud:index/volume:Volume"
ATTACH = "hcloud:index/volumeAttachment:VolumeAttachment"
SSH_KEY = "hcloud:index/sshKey:SshKey"
LB = "hcloud:index/loadBalancer:LoadBalancer"
LB_TARGET = "hcloud:index/loadBalancerTarget:LoadBalancerTarget"
LB_SERVICE = "hcloud:index/loadBalancerService:LoadBalancerService"
NETWORK = "hcloud:index/network:Network"
SUBNET = "hcloud:index/networkSubnet:NetworkSubnet"
SERVER_NET = "hcloud:index/serverNetwork:ServerNetwork"

OFFERS = deployable_offers("hetzner")


def test_catalog_has_hetzner_offers() -> None:
    assert OFFERS, "the catalog lists no deployable Hetzner offer"


@pytest.mark.parametrize("nodes", [1, 3])
@pytest.mark.parametrize("pair", OFFERS, ids=[offer_id(p) for p in OFFERS])
def test_hetzner_program_policy(pair, nodes: int) -> None:
    tier, offer = pair
    host, admin = stack_keys()
    spec = spec_for(tier, offer, host, admin, nodes=nodes)
    run = run_program(spec)

    # The servers: the offer's type and location, Ubuntu 24.04, the rendered user data, as secret.
    servers = run.of_type(SERVER)
    assert len(servers) == nodes
    firewall = only(run, FIREWALL)
    key = only(run, SSH_KEY)
    assert key.inputs["publicKey"] == admin.public_openssh
    ids = {r.name: r for r in run.resources}
    primary_ips = run.of_type(PRIMARY_IP)
    assert len(primary_ips) == nodes
    for server in servers:
        inputs = server.inputs
        assert inputs["serverType"] == offer.instance_type
        assert inputs["location"] == offer.region
        assert inputs["image"] == "ubuntu-24.04"
        assert inputs["userData"] == spec.user_data
        assert "userData" in server.secret_inputs
        assert host.public_openssh in inputs["userData"]
        assert server.ignore_changes == ("userData",)  # a tier change resizes, never replaces
        assert [int(i) for i in inputs["firewallIds"]] == [_id_of(run, firewall)]
        assert inputs["sshKeys"] == [str(_id_of(run, key))]
        (public_net,) = inputs["publicNets"]
        assert public_net["ipv4Enabled"] is True
        assert int(public_net["ipv4"]) in {_id_of(run, ip) for ip in primary_ips}
    assert ids[f"{servers[0].name}-ipv4"].inputs["location"] == offer.region

    # The firewall: 22 from the admin network only; 80 and 443 from anywhere; nothing else.
    rules = firewall.inputs["rules"]
    assert all(rule["direction"] == "in" and rule["protocol"] == "tcp" for rule in rules)
    by_port = {rule["port"]: rule for rule in rules}
    assert sorted(by_port) == ["22", "443", "80"]
    assert len(rules) == 3
    assert by_port["22"]["sourceIps"] == [ADMIN_CIDR]
    for port in ("80", "443"):
        assert sorted(by_port[port]["sourceIps"]) == ["0.0.0.0/0", "::/0"]

    # A models volume per server, sized from the tier, attached and mounted.
    volumes = run.of_type(VOLUME)
    attachments = run.of_type(ATTACH)
    assert len(volumes) == len(attachments) == nodes
    assert all(v.inputs["size"] == spec.volume_gb for v in volumes)
    assert all(v.inputs["location"] == offer.region for v in volumes)
    assert {int(a.inputs["serverId"]) for a in attachments} == {_id_of(run, s) for s in servers}
    assert {int(a.inputs["volumeId"]) for a in attachments} == {_id_of(run, v) for v in volumes}

    # Outputs, with the fingerprint exactly as ssh-keygen computes it.
    outputs = run.outputs
    assert outputs["host_key_fingerprint"] == host.fingerprint
    assert outputs["ssh_user"] == "hybridctl"
    assert len(outputs["ips"]) == nodes
    assert outputs["ip"] == outputs["ips"][0]

    if nodes == 1:
        assert not run.of_type(LB) and not run.of_type(LB_TARGET) and not run.of_type(LB_SERVICE)
        assert outputs["gateway_url"] == f"https://{outputs['ip']}"
        assert "load_balancer_ip" not in outputs
        assert not run.of_type(NETWORK) and "private_ips" not in outputs
        return
    # A private network with a fixed address per node; node 0's Redis is shared over it (the
    # firewall above, for public interfaces, still opens nothing but 22, 80 and 443).
    network = only(run, NETWORK)
    subnet = only(run, SUBNET)
    assert int(subnet.inputs["networkId"]) == _id_of(run, network)
    assert subnet.inputs["ipRange"] == PRIVATE_RANGE and subnet.inputs["type"] == "cloud"
    server_ids = {s.name: _id_of(run, s) for s in servers}
    attached = {int(a.inputs["serverId"]): a.inputs["ip"] for a in run.of_type(SERVER_NET)}
    assert attached == {
        server_ids[f"{spec.name}-{index + 1}"]: private_ip(index) for index in range(nodes)
    }
    assert outputs["private_ips"] == [private_ip(i) for i in range(nodes)]
    balancer = only(run, LB)
    assert balancer.inputs["location"] == offer.region
    targets = run.of_type(LB_TARGET)
    assert len(targets) == nodes
    assert {int(t.inputs["serverId"]) for t in targets} == {_id_of(run, s) for s in servers}
    assert all(int(t.inputs["loadBalancerId"]) == _id_of(run, balancer) for t in targets)
    services = run.of_type(LB_SERVICE)
    assert sorted(int(s.inputs["listenPort"]) for s in services) == [80, 443]
    for service in services:
        check = service.inputs["healthCheck"]
        assert check["protocol"] == "http"
        assert check["http"]["path"] == GATEWAY_HEALTH_PATH
        # HTTPS to the proxy on 443 for both services: 2xx only, so a 502 (dead gateway) fails.
        assert check["http"]["tls"] is True and check["http"]["statusCodes"] == ["2??"]
        assert int(check["port"]) == 443
    assert outputs["gateway_url"] == f"https://{outputs['load_balancer_ip']}"


def test_hetzner_refuses_gpu() -> None:
    tier, offer = OFFERS[0]
    spec = spec_for(tier, offer, *stack_keys())
    gpu_spec = type(spec)(**{**spec.__dict__, "gpu": True})
    with pytest.raises(InputError, match="GPU") as caught:
        check_spec(gpu_spec)
    assert get_cloud("hetzner").support.unsupported["gpu"] in caught.value.message


def test_hetzner_refuses_oversized_user_data() -> None:
    tier, offer = OFFERS[0]
    host, admin = stack_keys()
    big = spec_for(tier, offer, host, admin).user_data + "#" + "x" * 40_000 + "\n"
    with pytest.raises(InputError, match="at most 32768"):
        check_spec(spec_for(tier, offer, host, admin, user_data=big))


def _id_of(run: ProgramRun, resource: RecordedResource) -> int:
    return int(resource.id)
