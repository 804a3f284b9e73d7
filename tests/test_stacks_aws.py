"""Policy tests of the AWS program under Pulumi's mocks, for every tier with an AWS offer."""

from __future__ import annotations

import base64
import gzip

import pytest

from hybridctl.providers.aws import PLACEHOLDER_AMI
from hybridctl.providers.aws.program import CANONICAL_OWNER
from hybridctl.providers.mock_run import run_program
from hybridctl.providers.spec import SHARED_STORE_PORT
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH
from tests.stacks_fixtures import (
    ADMIN_CIDR,
    deployable_offers,
    offer_id,
    only,
    spec_for,
    stack_keys,
)

INSTANCE = "aws:ec2/instance:Instance"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
KEY = "aws:ec2/keyPair:KeyPair"
EBS = "aws:ebs/volume:Volume"
ATTACH = "aws:ec2/volumeAttachment:VolumeAttachment"
EIP = "aws:ec2/eip:Eip"
NLB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TG_ATTACH = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
LISTENER = "aws:lb/listener:Listener"

OFFERS = deployable_offers("aws")

# The provider package warns about its own deprecated resources when it is imported.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_aws")


def test_catalog_has_aws_offers() -> None:
    assert OFFERS, "the catalog lists no deployable AWS offer"
    assert any(tier.gpu for tier, _ in OFFERS), "expected the GPU tier to have an AWS offer"


@pytest.mark.parametrize("nodes", [1, 3])
@pytest.mark.parametrize("pair", OFFERS, ids=[offer_id(p) for p in OFFERS])
def test_aws_program_policy(pair, nodes: int) -> None:
    tier, offer = pair
    host, admin = stack_keys()
    spec = spec_for(tier, offer, host, admin, nodes=nodes)
    run = run_program(spec)

    # The AMI is Canonical's Ubuntu 24.04, looked up (here: through the mocks' call).
    (ami_call,) = [args for token, args in run.calls if token == "aws:ec2/getAmi:getAmi"]
    assert ami_call["owners"] == [CANONICAL_OWNER]
    assert ami_call["region"] == offer.region
    name_filter = next(f for f in ami_call["filters"] if f["name"] == "name")
    assert "ubuntu-noble-24.04-amd64" in name_filter["values"][0]

    group = only(run, GROUP)
    key = only(run, KEY)
    assert key.inputs["publicKey"] == admin.public_openssh
    instances = run.of_type(INSTANCE)
    assert len(instances) == nodes
    for instance in instances:
        inputs = instance.inputs
        assert inputs["instanceType"] == offer.instance_type
        assert inputs["region"] == offer.region
        assert inputs["ami"] == PLACEHOLDER_AMI
        assert inputs["keyName"] == key.inputs["keyName"]
        assert inputs["vpcSecurityGroupIds"] == [group.id]
        # IMDSv2 only, and an encrypted root volume.
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpEndpoint"] == "enabled"
        assert inputs["rootBlockDevice"]["encrypted"] is True
        # The rendered user data, as a secret, with the pinned host key in it.
        assert inputs["userData"] == spec.user_data
        assert "userData" in instance.secret_inputs
        assert host.public_openssh in inputs["userData"]
        assert set(instance.ignore_changes) == {"ami", "userData", "userDataBase64"}

    # The security group: 22 from the admin network only, 80 and 443 from anywhere, no ranges;
    # with N > 1, node 0's Redis (6379) from the group's own members and nobody else.
    ingress = group.inputs["ingress"]
    assert len(ingress) == (3 if nodes == 1 else 4)
    by_port = {int(rule["fromPort"]): rule for rule in ingress}
    if nodes > 1:
        store = by_port.pop(SHARED_STORE_PORT)
        assert store["self"] is True and int(store["toPort"]) == SHARED_STORE_PORT
        assert not store.get("cidrBlocks") and not store.get("ipv6CidrBlocks")
    assert sorted(by_port) == [22, 80, 443]
    for port, rule in by_port.items():
        assert int(rule["toPort"]) == port
        assert rule["protocol"] == "tcp"
    assert by_port[22]["cidrBlocks"] == [ADMIN_CIDR]
    assert not by_port[22].get("ipv6CidrBlocks")
    for port in (80, 443):
        assert by_port[port]["cidrBlocks"] == ["0.0.0.0/0"]
        assert by_port[port]["ipv6CidrBlocks"] == ["::/0"]

    # The boot disk is the tier's disk_gb, encrypted.
    for instance in instances:
        root = instance.inputs["rootBlockDevice"]
        assert root["volumeSize"] == spec.disk_gb == int(tier.disk_gb) and root["encrypted"]

    # Encrypted EBS models volumes in each instance's zone, attached; an Elastic IP per node.
    volumes = run.of_type(EBS)
    attachments = run.of_type(ATTACH)
    assert len(volumes) == len(attachments) == nodes
    assert all(
        v.inputs["encrypted"] is True and v.inputs["size"] == spec.volume_gb for v in volumes
    )
    assert {a.inputs["instanceId"] for a in attachments} == {i.id for i in instances}
    assert {a.inputs["volumeId"] for a in attachments} == {v.id for v in volumes}
    node_eips = [e for e in run.of_type(EIP) if "instance" in e.inputs]
    assert {e.inputs["instance"] for e in node_eips} == {i.id for i in instances}

    outputs = run.outputs
    assert outputs["host_key_fingerprint"] == host.fingerprint
    assert outputs["ssh_user"] == "hybridctl"
    assert len(outputs["ips"]) == nodes

    if nodes == 1:
        for type_token in (NLB, TARGET_GROUP, TG_ATTACH, LISTENER):
            assert not run.of_type(type_token)
        assert outputs["gateway_url"] == f"https://{outputs['ip']}"
        assert "private_ips" not in outputs
        return
    # Every node's private address, node 0's first: the others use its Redis.
    private = outputs["private_ips"]
    assert len(set(private)) == nodes and all(ip.startswith("172.31.") for ip in private)
    balancer = only(run, NLB)
    assert balancer.inputs["loadBalancerType"] == "network"
    assert balancer.inputs["internal"] is False
    groups = run.of_type(TARGET_GROUP)
    assert sorted(int(g.inputs["port"]) for g in groups) == [80, 443]
    for target_group in groups:
        check = target_group.inputs["healthCheck"]
        assert check["enabled"] is True
        assert check["protocol"] == "HTTPS"
        assert check["path"] == GATEWAY_HEALTH_PATH
        # Through the TLS proxy on 443, whatever port the group forwards: a dead gateway
        # behind a live proxy answers 502, outside the matcher.
        assert int(check["port"]) == 443 and check["matcher"] == "200-299"
        assert len(target_group.inputs["name"]) <= 32
    attached = run.of_type(TG_ATTACH)
    assert len(attached) == 2 * nodes
    assert {a.inputs["targetId"] for a in attached} == {i.id for i in instances}
    assert sorted(int(listener.inputs["port"]) for listener in run.of_type(LISTENER)) == [80, 443]
    assert outputs["load_balancer_ip"]
    assert outputs["gateway_url"].startswith("https://")


def test_aws_gzips_user_data_over_16k() -> None:
    tier, offer = OFFERS[0]
    host, admin = stack_keys()
    big = spec_for(tier, offer, host, admin).user_data + "".join(
        f"# line {n} of a large bundle\n" for n in range(1500)
    )
    assert len(big) > 16 * 1024
    spec = spec_for(tier, offer, host, admin, user_data=big)
    instance = only(run_program(spec), INSTANCE)
    assert "userData" not in instance.inputs
    assert "userDataBase64" in instance.secret_inputs
    assert gzip.decompress(base64.b64decode(instance.inputs["userDataBase64"])).decode() == big


def test_aws_long_names_fit_load_balancer_limits() -> None:
    tier, offer = OFFERS[0]
    spec = spec_for(tier, offer, *stack_keys(), nodes=2)
    long = type(spec)(**{**spec.__dict__, "name": "a-rather-long-deployment-name-for-prod"})
    run = run_program(long)
    names = [r.inputs["name"] for r in run.of_type(TARGET_GROUP) + run.of_type(NLB)]
    assert len(names) == 3
    assert all(len(name) <= 32 for name in names)
    assert len(set(names)) == 3
