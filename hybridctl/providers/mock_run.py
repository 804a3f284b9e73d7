"""Run a provider program offline under Pulumi's mocks and list what it would create."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridctl.providers.base import MockData
from hybridctl.providers.registry import CLOUD_REGISTRY, check_spec
from hybridctl.providers.spec import DeploySpec

if TYPE_CHECKING:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value
REDACTED = "[secret]"


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


def _mocks_for(type_token: str) -> MockData | None:
    """The mock data of the cloud whose Pulumi plugin owns a resource or call token."""
    plugin = type_token.split(":", 1)[0]
    return next((c.mocks for c in CLOUD_REGISTRY.values() if c.plugin == plugin), None)


def mock_outputs(type_token: str, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs plus the outputs a real deploy fills in, as the resource's cloud gives them."""
    found = _mocks_for(type_token)
    return found.outputs(type_token, ordinal, inputs) if found else dict(inputs)


def mock_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """What a data-source call (an image or network lookup) answers offline."""
    found = _mocks_for(token)
    return dict(found.calls.get(token, {})) if found else {}


def key_properties(type_token: str) -> tuple[str, ...] | None:
    """The inputs worth showing for a resource type; None shows every input."""
    found = _mocks_for(type_token)
    return found.key_properties.get(type_token) if found else None


def ensure_event_loop() -> None:
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
    """Build the spec's component under fresh mocks; return every resource, call and output.

    Pulumi registers resources from a thread pool, so the order in which they arrive, and ids
    counted in that order, change from run to run. A first run lists the resources; the second
    numbers them in sorted order, so a spec always gives the same ids and addresses.
    """
    check_spec(spec)
    created: list[tuple[str, str]] = []
    _run_once(spec, created.append, None)
    numbered = {key: 1001 + i for i, key in enumerate(sorted(created))}
    return _run_once(spec, lambda _: None, numbered)


def _run_once(
    spec: DeploySpec,
    seen: Callable[[tuple[str, str]], None],
    numbered: dict[tuple[str, str], int] | None,
) -> ProgramRun:
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks

    from hybridctl.providers.registry import create_stack

    ensure_event_loop()
    run = ProgramRun()
    ids = itertools.count(1001)

    class Recorder(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            key = (args.typ, args.name)
            seen(key)
            ordinal = numbered[key] if numbered is not None else next(ids)
            # hcloud ids are numbers; the same numeric form works for every provider's mocks.
            return str(ordinal), mock_outputs(args.typ, ordinal, args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            run.calls.append((args.token, dict(args.args)))
            return mock_call(args.token, args.args), []

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
    use_fresh_mocks(mocks, stack=spec.name, monitor=RecordingMonitor(mocks))

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        from hybridctl.providers.spec import OUTPUT_NAMES

        stack = create_stack(spec)
        names = [n for n in OUTPUT_NAMES if getattr(stack, n, None) is not None]
        outputs = pulumi.Output.all(*(getattr(stack, n) for n in names))
        return outputs.apply(lambda values: run.outputs.update(zip(names, values, strict=True)))

    program()  # runs the program to completion, every output resolved, like `pulumi up`
    return run


def use_fresh_mocks(
    mocks: pulumi.runtime.Mocks, *, stack: str, monitor: MockMonitor | None = None
) -> None:
    """Point Pulumi's runtime at the mocks with a new root stack, so no earlier run carries over.

    reset_options drops the previous root stack; set_mocks then creates a fresh one.
    """
    import pulumi

    pulumi.runtime.reset_options(project="hybridctl", stack=stack, preview=False)
    pulumi.runtime.set_mocks(
        mocks, project="hybridctl", stack=stack, preview=False, monitor=monitor
    )


def plan_resources(spec: DeploySpec) -> list[PlannedResource]:
    """Every resource the spec's program would create, with key properties; offline, no CLI."""
    planned = []
    for resource in sorted(run_program(spec).resources, key=_display_order):
        keys = key_properties(resource.type)
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


def _display_order(resource: RecordedResource) -> tuple[int, list[object]]:
    """Components first, then types in the cloud's key-property order, then natural names."""
    found = _mocks_for(resource.type)
    order = list(found.key_properties) if found else []
    rank = order.index(resource.type) if resource.type in order else len(order)
    rank = -1 if not resource.custom else rank
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
