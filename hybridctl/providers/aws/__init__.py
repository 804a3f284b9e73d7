"""Amazon Web Services: what hybridctl can build there, its credentials, plugin and plan data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridctl.providers.base import (
    Cloud,
    MockData,
    ProviderConfig,
    ProviderSupport,
    missing_credentials,
)

SUPPORT = ProviderSupport(
    default_image="ubuntu-24.04 (Canonical AMI, owner 099720109477)",
    image_login="ubuntu",
    gpu=True,
    load_balancer="Network Load Balancer, TCP 80/443 passthrough, "
    "HTTPS health check on the gateway",
    max_nodes=50,
    volume_gb_min=1,
    volume_gb_max=16384,
    user_data_max_bytes=16 * 1024,
    user_data_gzip=True,
    models_device="attached as /dev/sdf: /dev/nvme1n1 on Nitro instance types; unformatted",
    resize="in place with downtime: the instance is stopped, its type changed, and started",
    resize_downtime="AWS stops the instance to change its instance type (minutes of downtime; "
    "the Elastic IP and volumes are kept)",
    unsupported={"more_than_50_nodes": "kept below the default per-region instance quota"},
    notes=("uses the region's default VPC and its default subnets, one per zone",),
)

# What the offline plan shows for the AMI, which exists only once the cloud is asked.
PLACEHOLDER_AMI = "ami-(latest Canonical ubuntu-noble-24.04-amd64)"
_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def credentials(region: str, env: Mapping[str, str]) -> ProviderConfig:
    """Access keys, a profile, web identity, container or shared credentials (the SDK's chain)."""
    plain = {"aws:region": region}
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key_id and not secret:
        raise missing_credentials(
            "AWS_SECRET_ACCESS_KEY",
            "AWS credentials",
            "AWS_ACCESS_KEY_ID is set but its secret is not: export AWS_SECRET_ACCESS_KEY too.",
        )
    if key_id and secret:
        return ProviderConfig("aws", plain=plain, source="AWS_ACCESS_KEY_ID")
    for variable in _CREDENTIAL_SOURCES:
        if env.get(variable):
            return ProviderConfig("aws", plain=plain, source=variable)
    home = Path(env.get("HOME") or Path.home())
    shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    if shared.is_file():
        return ProviderConfig("aws", plain=plain, source=str(shared))
    raise missing_credentials(
        "AWS_ACCESS_KEY_ID",
        "AWS credentials",
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials"
        ", e.g. after `aws configure`); use --plan to preview without them.",
    )


def _mock_outputs(type_token: str, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
    ip = f"192.0.2.{ordinal % 250 + 1}"  # documentation addresses (RFC 5737)
    balancer = {"arn": f"arn:mock:{ordinal}", "dnsName": f"lb-{ordinal}.elb.example"}
    computed = {
        "aws:ec2/instance:Instance": {
            "availabilityZone": "mock-az-a",
            "publicIp": ip,
            "privateIp": f"172.31.0.{ordinal % 250 + 1}",
            "arn": f"arn:mock:{ordinal}",
        },
        "aws:ec2/eip:Eip": {"publicIp": ip, "allocationId": f"eipalloc-{ordinal}"},
        "aws:lb/loadBalancer:LoadBalancer": balancer,
        "aws:lb/targetGroup:TargetGroup": balancer,
    }
    return {**inputs, **computed.get(type_token, {})}


MOCKS = MockData(
    key_properties={
        "aws:ec2/keyPair:KeyPair": ("keyName",),
        "aws:ec2/securityGroup:SecurityGroup": ("name", "ingress", "egress"),
        "aws:ec2/instance:Instance": (
            "instanceType",
            "region",
            "ami",
            "metadataOptions",
            "rootBlockDevice",
            "userData",
            "userDataBase64",
        ),
        "aws:ebs/volume:Volume": ("size", "type", "encrypted"),
        "aws:ec2/volumeAttachment:VolumeAttachment": ("deviceName",),
        "aws:ec2/eip:Eip": ("domain",),
        "aws:lb/loadBalancer:LoadBalancer": ("name", "loadBalancerType", "internal"),
        "aws:lb/targetGroup:TargetGroup": ("name", "port", "protocol", "healthCheck"),
        "aws:lb/listener:Listener": ("port", "protocol"),
        "aws:lb/targetGroupAttachment:TargetGroupAttachment": ("port",),
    },
    outputs=_mock_outputs,
    calls={
        "aws:ec2/getAmi:getAmi": {
            "id": PLACEHOLDER_AMI,
            "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04",
        },
        "aws:ec2/getVpc:getVpc": {"id": "vpc-(default)"},
        "aws:ec2/getSubnets:getSubnets": {"ids": ["subnet-(default-a)", "subnet-(default-b)"]},
    },
)

AWS = Cloud(
    name="aws",
    title="Amazon Web Services",
    support=SUPPORT,
    plugin="aws",
    program="hybridctl.providers.aws.program:AwsStack",
    credentials=credentials,
    mocks=MOCKS,
)
