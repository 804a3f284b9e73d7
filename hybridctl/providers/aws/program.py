"""AWS's Pulumi program: EC2 instances (IMDSv2, encrypted disks), security group, EIPs, EBS, NLB."""

from __future__ import annotations

import base64

import pulumi
import pulumi_aws as aws

from hybridctl.providers.aws import AWS
from hybridctl.providers.component import NodesComponent
from hybridctl.providers.spec import (
    HEALTH_CHECK_PORT,
    SHARED_STORE_PORT,
    SSH_PORT,
    WEB_PORTS,
    DeploySpec,
    short_name,
)
from hybridctl.stackfacts import GATEWAY_HEALTH_PATH

CANONICAL_OWNER = "099720109477"
UBUNTU_2404_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
MODELS_DEVICE = "/dev/sdf"
LB_NAME_STEM = 27  # AWS load balancer and target group names take 32 characters: stem + "-nlb"


def ubuntu_ami(region: str, image: str | None) -> str:
    """The AMI id to boot: the spec's image if it names one, else Canonical's latest 24.04."""
    if image and image.startswith("ami-"):
        return image
    result = aws.ec2.get_ami(
        owners=[CANONICAL_OWNER],
        most_recent=True,
        filters=[
            {"name": "name", "values": [image or UBUNTU_2404_NAME]},
            {"name": "virtualization-type", "values": ["hvm"]},
            {"name": "architecture", "values": ["x86_64"]},
        ],
        region=region,
    )
    return result.id


class AwsStack(NodesComponent):
    """One or more EC2 instances for a tier, behind a Network Load Balancer when N > 1.

    Networking: the region's default VPC and its default subnets (one per availability zone);
    nodes are spread over those subnets. Accounts without a default VPC get a clear lookup error.
    """

    def __init__(self, spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybridctl:stacks:AwsStack", spec.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = spec.region
        tags = {"managed-by": "hybridctl", "deployment": spec.name, "tier": spec.tier_id}

        vpc = aws.ec2.get_vpc(default=True, region=region)
        subnet_ids = sorted(
            aws.ec2.get_subnets(
                filters=[
                    {"name": "vpc-id", "values": [vpc.id]},
                    {"name": "default-for-az", "values": ["true"]},
                ],
                region=region,
            ).ids
        )
        ami = ubuntu_ami(region, spec.image)

        key = aws.ec2.KeyPair(
            f"{spec.name}-admin",
            key_name=f"{spec.name}-admin",
            public_key=spec.ssh_public_key,
            region=region,
            tags=tags,
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{spec.name}-sg",
            name=f"{spec.name}-sg",
            description=f"hybridctl {spec.name}: SSH from the admin network, HTTP/HTTPS",
            vpc_id=vpc.id,
            ingress=_ingress_rules(spec.admin_cidr, shared_store=spec.node_count > 1),
            egress=[
                {
                    "protocol": "-1",
                    "from_port": 0,
                    "to_port": 0,
                    "cidr_blocks": ["0.0.0.0/0"],
                    "ipv6_cidr_blocks": ["::/0"],
                    "description": "all outbound",
                }
            ],
            region=region,
            tags=tags,
            opts=child,
        )
        payload = AWS.support.user_data_payload(spec.user_data)
        user_data: pulumi.Output[str] | None = None
        user_data_base64: pulumi.Output[str] | None = None
        if payload == spec.user_data.encode():
            user_data = pulumi.Output.secret(spec.user_data)
        else:  # gzipped to fit the 16 KiB limit; cloud-init recognises and unpacks it
            user_data_base64 = pulumi.Output.secret(base64.b64encode(payload).decode())

        instances: list[aws.ec2.Instance] = []
        addresses: list[pulumi.Output[str]] = []
        for index in range(spec.node_count):
            node = spec.name if spec.node_count == 1 else f"{spec.name}-{index + 1}"
            node_tags = {**tags, "Name": node}
            instance = aws.ec2.Instance(
                node,
                ami=ami,
                instance_type=spec.instance_type,
                key_name=key.key_name,
                subnet_id=subnet_ids[index % len(subnet_ids)],
                vpc_security_group_ids=[group.id],
                metadata_options={
                    "http_endpoint": "enabled",
                    "http_tokens": "required",
                    "http_put_response_hop_limit": 1,
                },
                root_block_device={
                    "encrypted": True,
                    "volume_type": "gp3",
                    "volume_size": spec.disk_gb,
                    "delete_on_termination": True,
                },
                user_data=user_data,
                user_data_base64=user_data_base64,
                region=region,
                tags=node_tags,
                volume_tags=node_tags,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # A new AMI release must not replace a running server, and user data is
                    # first-boot only: a tier change resizes in place and the driver pushes the
                    # new bundle over SSH (changing user data would stop and start the instance).
                    ignore_changes=["ami", "user_data", "user_data_base64"],
                ),
            )
            volume = aws.ebs.Volume(
                f"{node}-models",
                availability_zone=instance.availability_zone,
                size=spec.volume_gb,
                type="gp3",
                encrypted=True,
                region=region,
                tags={**tags, "Name": f"{node}-models"},
                opts=child,
            )
            aws.ec2.VolumeAttachment(
                f"{node}-models-attach",
                device_name=MODELS_DEVICE,
                instance_id=instance.id,
                volume_id=volume.id,
                region=region,
                opts=child,
            )
            eip = aws.ec2.Eip(
                f"{node}-eip",
                domain="vpc",
                instance=instance.id,
                region=region,
                tags=node_tags,
                opts=child,
            )
            instances.append(instance)
            addresses.append(eip.public_ip)

        if spec.node_count > 1:
            balancer, balancer_ip = _network_load_balancer(
                spec, vpc.id, subnet_ids, instances, tags, child
            )
            # The NLB has one address per zone behind one DNS name: the name survives a zone outage.
            self._finish(
                spec,
                addresses,
                load_balancer_ip=balancer_ip,
                gateway_host=balancer.dns_name,
                private_ips=[instance.private_ip for instance in instances],
            )
        else:
            self._finish(spec, addresses)


def _ingress_rules(
    admin_cidr: str, *, shared_store: bool = False
) -> list[aws.ec2.SecurityGroupIngressArgsDict]:
    admin_v6 = ":" in admin_cidr
    rules: list[aws.ec2.SecurityGroupIngressArgsDict] = [
        {
            "protocol": "tcp",
            "from_port": SSH_PORT,
            "to_port": SSH_PORT,
            "cidr_blocks": [] if admin_v6 else [admin_cidr],
            "ipv6_cidr_blocks": [admin_cidr] if admin_v6 else [],
            "description": "SSH from the admin network only",
        }
    ]
    for port in WEB_PORTS:
        rules.append(
            {
                "protocol": "tcp",
                "from_port": port,
                "to_port": port,
                "cidr_blocks": ["0.0.0.0/0"],
                "ipv6_cidr_blocks": ["::/0"],
                "description": "HTTPS gateway" if port == 443 else "HTTP (redirect, ACME)",
            }
        )
    if shared_store:
        rules.append(
            {
                "protocol": "tcp",
                "from_port": SHARED_STORE_PORT,
                "to_port": SHARED_STORE_PORT,
                "self": True,  # members of this security group only: the deployment's nodes
                "description": "node 0's Redis (shared cache and spend store), nodes only",
            }
        )
    return rules


def _network_load_balancer(
    spec: DeploySpec,
    vpc_id: str,
    subnet_ids: list[str],
    instances: list[aws.ec2.Instance],
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
) -> tuple[aws.lb.LoadBalancer, pulumi.Output[str]]:
    # One static address per zone that holds a node, so the balancer's IPs survive updates.
    zones = subnet_ids[: min(len(instances), len(subnet_ids))]
    zone_ips = [
        aws.ec2.Eip(
            f"{spec.name}-nlb-eip-{index + 1}",
            domain="vpc",
            region=spec.region,
            tags=tags,
            opts=child,
        )
        for index in range(len(zones))
    ]
    balancer = aws.lb.LoadBalancer(
        f"{spec.name}-nlb",
        name=f"{short_name(spec.name, LB_NAME_STEM)}-nlb",
        load_balancer_type="network",
        internal=False,
        subnet_mappings=[
            {"subnet_id": subnet, "allocation_id": eip.allocation_id}
            for subnet, eip in zip(zones, zone_ips, strict=True)
        ],
        region=spec.region,
        tags=tags,
        opts=child,
    )
    # TLS ends on each node's proxy, so the NLB passes TCP through and checks the gateway
    # behind that proxy over HTTPS.
    for port in WEB_PORTS:
        group = aws.lb.TargetGroup(
            f"{spec.name}-tg-{port}",
            name=f"{short_name(spec.name, LB_NAME_STEM)}-{port}",
            port=port,
            protocol="TCP",
            target_type="instance",
            vpc_id=vpc_id,
            health_check={
                "enabled": True,
                "protocol": "HTTPS",
                "port": str(HEALTH_CHECK_PORT),
                "path": GATEWAY_HEALTH_PATH,
                "matcher": "200-299",
                "interval": 15,
                "timeout": 10,
                "healthy_threshold": 3,
                "unhealthy_threshold": 3,
            },
            region=spec.region,
            tags=tags,
            opts=child,
        )
        for index, instance in enumerate(instances):
            aws.lb.TargetGroupAttachment(
                f"{spec.name}-{index + 1}-tg-{port}",
                target_group_arn=group.arn,
                target_id=instance.id,
                port=port,
                region=spec.region,
                opts=child,
            )
        aws.lb.Listener(
            f"{spec.name}-listen-{port}",
            load_balancer_arn=balancer.arn,
            port=port,
            protocol="TCP",
            default_actions=[{"type": "forward", "target_group_arn": group.arn}],
            region=spec.region,
            opts=child,
        )
    return balancer, zone_ips[0].public_ip
