"""Policy tests of the GCP program under Pulumi's mocks, for every tier with a GCP offer."""

from __future__ import annotations

import pytest

from hybridctl.providers.gcp import region_of, zone_for
from hybridctl.providers.gcp.program import GPU_TYPE
from hybridctl.providers.mock_run import run_program
from hybridctl.providers.spec import (
    PRIVATE_RANGE,
    SHARED_STORE_PORT,
    private_ip,
)
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH
from tests.stacks_fixtures import (
    ADMIN_CIDR,
    deployable_offers,
    offer_id,
    only,
    spec_for,
    stack_keys,
)

INSTANCE = "gcp:compute/instance:Instance"
FIREWALL = "gcp:compute/firewall:Firewall"
NETWORK = "gcp:compute/network:Network"
ADDRESS = "gcp:compute/address:Address"
DISK = "gcp:compute/disk:Disk"
GROUP = "gcp:compute/instanceGroup:InstanceGroup"
HEALTH = "gcp:compute/regionHealthCheck:RegionHealthCheck"
BACKEND = "gcp:compute/regionBackendService:RegionBackendService"
FORWARDING = "gcp:compute/forwardingRule:ForwardingRule"

OFFERS = deployable_offers("gcp")

# The provider package warns about its own deprecated resources when it is imported.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_gcp")


def test_catalog_has_gcp_offers() -> None:
    assert OFFERS, "the catalog lists no deployable GCP offer"


def test_zone_from_region() -> None:
    assert zone_for("us-central1") == "us-central1-a"
    assert zone_for("us-east1") == "us-east1-b"  # us-east1 has no zone a
    assert zone_for("europe-west4-b") == "europe-west4-b"
    assert region_of("europe-west4-b") == "europe-west4"


@pytest.mark.parametrize("nodes", [1, 3])
@pytest.mark.parametrize("pair", OFFERS, ids=[offer_id(p) for p in OFFERS])
def test_gcp_program_policy(pair, nodes: int) -> None:
    tier, offer = pair
    host, admin = stack_keys()
    spec = spec_for(tier, offer, host, admin, nodes=nodes)
    run = run_program(spec)
    zone = zone_for(offer.region)

    network = only(run, NETWORK)
    assert network.inputs["autoCreateSubnetworks"] is False  # not the default network's rules

    instances = run.of_type(INSTANCE)
    assert len(instances) == nodes
    for instance in instances:
        inputs = instance.inputs
        assert inputs["machineType"] == offer.instance_type
        assert inputs["zone"] == zone
        assert "ubuntu-2404" in inputs["bootDisk"]["initializeParams"]["image"]
        shielded = inputs["shieldedInstanceConfig"]
        assert shielded == {
            "enableSecureBoot": True,
            "enableVtpm": True,
            "enableIntegrityMonitoring": True,
        }
        metadata = inputs["metadata"]
        assert metadata["user-data"] == spec.user_data
        assert "metadata" in instance.secret_inputs
        assert host.public_openssh in metadata["user-data"]
        assert metadata["ssh-keys"] == f"hybridctl:{admin.public_openssh}"
        assert metadata["block-project-ssh-keys"] == "TRUE"
        if tier.gpu:
            assert inputs["guestAccelerators"] == [{"type": GPU_TYPE, "count": 1}]
            assert inputs["scheduling"]["onHostMaintenance"] == "TERMINATE"
        else:
            assert not inputs.get("guestAccelerators")
        (interface,) = inputs["networkInterfaces"]
        (access,) = interface["accessConfigs"]
        assert access["natIp"]  # the node's static address

    # Firewall: 22 from the admin network, 80/443 from anywhere, on our network, nothing else.
    rules = run.of_type(FIREWALL)
    opened: dict[str, list[str]] = {}
    for rule in rules:
        assert rule.inputs["network"] == network.id
        assert rule.inputs.get("direction", "INGRESS") == "INGRESS"
        for allow in rule.inputs["allows"]:
            assert allow["protocol"] == "tcp"
            for port in allow["ports"]:
                assert port not in opened
                opened[port] = rule.inputs["sourceRanges"]
    expected = {"22": [ADMIN_CIDR], "80": ["0.0.0.0/0"], "443": ["0.0.0.0/0"]}
    if nodes > 1:  # node 0's Redis, from the deployment's own subnet only
        expected[str(SHARED_STORE_PORT)] = [PRIVATE_RANGE]
    assert opened == expected
    by_name = {i.name: i.inputs["networkInterfaces"][0]["networkIp"] for i in instances}
    names = [spec.name] if nodes == 1 else [f"{spec.name}-{n + 1}" for n in range(nodes)]
    assert by_name == {name: private_ip(index) for index, name in enumerate(names)}

    for instance in instances:  # the boot disk is the tier's disk_gb
        size = instance.inputs["bootDisk"]["initializeParams"]["size"]
        assert size == spec.disk_gb == int(tier.disk_gb)
    disks = run.of_type(DISK)
    assert len(disks) == nodes
    assert all(d.inputs["size"] == spec.volume_gb and d.inputs["zone"] == zone for d in disks)
    attached = {i.inputs["attachedDisks"][0]["source"] for i in instances}
    assert len(attached) == nodes

    outputs = run.outputs
    assert outputs["host_key_fingerprint"] == host.fingerprint
    assert outputs["ssh_user"] == "hybridctl"
    assert len(outputs["ips"]) == nodes

    if nodes == 1:
        for type_token in (GROUP, HEALTH, BACKEND, FORWARDING):
            assert not run.of_type(type_token)
        assert len(run.of_type(ADDRESS)) == 1
        assert outputs["gateway_url"] == f"https://{outputs['ip']}"
        assert "private_ips" not in outputs
        return
    assert outputs["private_ips"] == [private_ip(index) for index in range(nodes)]
    group = only(run, GROUP)
    assert len(group.inputs["instances"]) == nodes
    health = only(run, HEALTH)
    assert health.inputs["httpsHealthCheck"]["requestPath"] == GATEWAY_HEALTH_PATH
    assert int(health.inputs["httpsHealthCheck"]["port"]) == 443
    backend = only(run, BACKEND)
    assert backend.inputs["healthChecks"] == health.id
    assert backend.inputs["loadBalancingScheme"] == "EXTERNAL"
    forwarding = only(run, FORWARDING)
    assert forwarding.inputs["ports"] == ["80", "443"]
    assert forwarding.inputs["backendService"] == backend.id
    assert forwarding.inputs["region"] == region_of(zone)
    assert forwarding.inputs["ipAddress"] == outputs["load_balancer_ip"]
    assert outputs["gateway_url"] == f"https://{outputs['load_balancer_ip']}"
