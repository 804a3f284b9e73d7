"""Run a provider program offline under Pulumi's mocks and list what it would create."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridctl.stacks.base import DeploySpec, check_spec

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value
REDACTED = "[secret]"

# The inputs worth showing per resource type (wire names); other types show every input.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "hcloud:index/sshKey:SshKey": ("name",),
    "hcloud:index/firewall:Firewall": ("name", "rules"),
    "hcloud:index/primaryIp:PrimaryIp": ("type", "location"),
    "hcloud:index/server:Server": ("name", "serverType", "location", "image", "userData"),
    "hcloud:index/volume:Volume": ("name", "size", "location", "format"),
    "hcloud:index/volumeAttachment:VolumeAttachment": ("automount",),
    "hcloud:index/loadBalancer:LoadBalancer": ("name", "loadBalancerType", "location"),
    "hcloud:index/loadBalancerTarget:LoadBalancerTarget": ("type",),
    "hcloud:index/loadBalancerService:LoadBalancerService": (
        "protocol",
        "listenPort",
        "destinationPort",
        "healthCheck",
    ),
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
    "gcp:compute/network:Network": ("name", "autoCreateSubnetworks"),
    "gcp:compute/subnetwork:Subnetwork": ("name", "region", "ipCidrRange"),
    "gcp:compute/firewall:Firewall": ("name", "allows", "sourceRanges", "targetTags"),
    "gcp:compute/address:Address": ("name", "region", "addressType"),
    "gcp:compute/disk:Disk": ("name", "zone", "size", "type"),
    "gcp:compute/instance:Instance": (
        "name",
        "machineType",
        "zone",
        "bootDisk",
        "shieldedInstanceConfig",
        "guestAccelerators",
        "scheduling",
        "metadata",
    ),
    "gcp:compute/instanceGroup:InstanceGroup": ("name", "zone"),
    "gcp:compute/regionHealthCheck:RegionHealthCheck": ("name", "httpsHealthCheck"),
    "gcp:compute/regionBackendService:RegionBackendService": (
        "name",
        "loadBalancingScheme",
        "protocol",
    ),
    "gcp:compute/forwardingRule:ForwardingRule": ("name", "ports", "ipProtocol"),
}

# What the offline plan shows for values that exist only once the cloud has them.
PLACEHOLDER_AMI = "ami-(latest Canonical ubuntu-noble-24.04-amd64)"


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program would create, with its key properties (secrets redacted)."""

    type: str
    name: str
    properties: dict[str, Any]
    secret_properties: tuple[str, ...] = ()

    @property
    def is_component(self) -> bool:
        return self.type.startswith("hybridctl:")


@dataclass
class RecordedResource:
    """A resource as the mock engine saw it: full inputs, secrets unwrapped, and which were."""

    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    redacted_inputs: dict[str, Any]
    custom: bool
    ignore_changes: tuple[str, ...] = ()


@dataclass
class ProgramRun:
    """Everything one mocked run of a program produced."""

    resources: list[RecordedResource] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]


def _contains_secret(value: Any) -> bool:
    """Whether a serialized protobuf Value (or part of one) carries Pulumi's secret marker."""
    kind = value.WhichOneof("kind")
    if _is_secret_struct(value):
        return True
    if kind == "struct_value":
        return any(_contains_secret(v) for v in value.struct_value.fields.values())
    if kind == "list_value":
        return any(_contains_secret(v) for v in value.list_value.values)
    return False


def _is_secret_struct(value: Any) -> bool:
    if value.WhichOneof("kind") != "struct_value":
        return False
    fields = value.struct_value.fields
    return SECRET_SIG in fields and fields[SECRET_SIG].string_value.startswith("1b4706")


def _redact(value: Any) -> None:
    """Replace, in place, every secret inside a protobuf Value by the REDACTED string."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        for inner in value.struct_value.fields.values():
            if _is_secret_struct(inner):
                inner.string_value = REDACTED
            else:
                _redact(inner)
    elif kind == "list_value":
        for inner in value.list_value.values:
            if _is_secret_struct(inner):
                inner.string_value = REDACTED
            else:
                _redact(inner)


def _redacted_properties(struct: Any) -> dict[str, Any]:
    from google.protobuf import struct_pb2
    from pulumi.runtime import rpc

    wrapper = struct_pb2.Value()
    wrapper.struct_value.CopyFrom(struct)
    _redact(wrapper)
    return rpc.deserialize_properties(wrapper.struct_value)


def _unwrap_secrets(value: Any) -> Any:
    """Deserialized inputs with every secret wrapper (at any depth) replaced by its value."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: _unwrap_secrets(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_unwrap_secrets(inner) for inner in value]
    return value


def _fake_outputs(type_token: str, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Computed outputs a real deploy would fill in; documentation IPs (RFC 5737) stand in."""
    ip = f"192.0.2.{ordinal % 250 + 1}"
    extra: dict[str, Any] = {}
    if type_token == "hcloud:index/primaryIp:PrimaryIp":
        extra = {"ipAddress": ip}
    elif type_token == "hcloud:index/server:Server":
        extra = {"ipv4Address": ip}
    elif type_token == "hcloud:index/loadBalancer:LoadBalancer":
        extra = {"ipv4": ip}
    elif type_token == "aws:ec2/instance:Instance":
        extra = {
            "availabilityZone": "mock-az-a",
            "publicIp": ip,
            "privateIp": f"172.31.0.{ordinal % 250 + 1}",
            "arn": f"arn:mock:{ordinal}",
        }
    elif type_token == "aws:ec2/eip:Eip":
        extra = {"publicIp": ip, "allocationId": f"eipalloc-{ordinal}"}
    elif type_token in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        extra = {"arn": f"arn:mock:{ordinal}", "dnsName": f"lb-{ordinal}.elb.example"}
    elif type_token == "gcp:compute/address:Address":
        extra = {"address": ip}
    elif type_token.startswith("gcp:"):
        extra = {"selfLink": f"https://compute.googleapis.example/{ordinal}"}
    return {**inputs, **extra}


def _mock_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == "aws:ec2/getAmi:getAmi":
        return {"id": PLACEHOLDER_AMI, "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04"}
    if token == "aws:ec2/getVpc:getVpc":
        return {"id": "vpc-(default)"}
    if token == "aws:ec2/getSubnets:getSubnets":
        return {"ids": ["subnet-(default-a)", "subnet-(default-b)"]}
    return {}


def _ensure_event_loop() -> None:
    """Pulumi's synchronous await needs the thread's current loop; asyncio.run() leaves none."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(spec: DeploySpec) -> ProgramRun:
    """Build the spec's component under fresh mocks; return every resource, call and output."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.settings import ROOT, SETTINGS
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from hybridctl.stacks.base import create_stack

    check_spec(spec)
    _ensure_event_loop()
    run = ProgramRun()
    ids = itertools.count(1001)

    class Recorder(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            ordinal = next(ids)
            # hcloud ids are numbers; the same numeric form works for every provider's mocks.
            return str(ordinal), _fake_outputs(args.typ, ordinal, args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            run.calls.append((args.token, dict(args.args)))
            return _mock_call(args.token, args.args), []

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            from pulumi.runtime import rpc

            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                secret = frozenset(
                    key for key, value in request.object.fields.items() if _contains_secret(value)
                )
                run.resources.append(
                    RecordedResource(
                        type=request.type,
                        name=request.name,
                        id=response.id,
                        inputs=_unwrap_secrets(rpc.deserialize_properties(request.object)),
                        secret_inputs=secret,
                        redacted_inputs=_redacted_properties(request.object),
                        custom=bool(request.custom),
                        ignore_changes=tuple(request.ignoreChanges),
                    )
                )
            return response

    mocks = Recorder()
    ROOT.set(None)  # a fresh root stack per run, so nothing from an earlier run carries over
    pulumi.runtime.set_mocks(
        mocks,
        project="hybridctl",
        stack=spec.name,
        preview=False,
        monitor=RecordingMonitor(mocks),
    )
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()

    def program() -> None:
        from hybridctl.stacks.base import OUTPUT_NAMES

        stack = create_stack(spec)
        names = [n for n in OUTPUT_NAMES if getattr(stack, n, None) is not None]
        values = _sync_await(pulumi.Output.all(*(getattr(stack, n) for n in names)).future())
        run.outputs.update(zip(names, values or [], strict=True))

    _sync_await(run_pulumi_func(program))
    return run


def plan_resources(spec: DeploySpec) -> list[PlannedResource]:
    """Every resource the spec's program would create, with key properties; offline, no CLI."""
    planned = []
    for resource in sorted(run_program(spec).resources, key=_display_order):
        keys = KEY_PROPERTIES.get(resource.type)
        shown = {
            key: resource.redacted_inputs[key]
            for key in (keys or sorted(resource.redacted_inputs))
            if key in resource.redacted_inputs and not key.startswith("__")
        }
        planned.append(
            PlannedResource(
                type=resource.type,
                name=resource.name,
                properties=_plain(shown),
                secret_properties=tuple(sorted(resource.secret_inputs)),
            )
        )
    return planned


_TYPE_RANK = {type_token: rank for rank, type_token in enumerate(KEY_PROPERTIES)}


def _display_order(resource: RecordedResource) -> tuple[int, list[object]]:
    """Components first, then types in KEY_PROPERTIES order, then names in natural order."""
    rank = -1 if not resource.custom else _TYPE_RANK.get(resource.type, len(_TYPE_RANK))
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", resource.name)]
    return rank, natural


def _plain(value: Any) -> Any:
    """Mock inputs as plain JSON-able data (protobuf mappings and tuples become dicts/lists)."""
    if isinstance(value, Mapping):
        # protobuf maps have no order; sorted keys keep the plan's output the same every run
        return {str(k): _plain(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a float
    return value
