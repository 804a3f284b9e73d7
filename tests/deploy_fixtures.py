"""A fake Pulumi stack for the deploy driver's tests: real engine events, no CLI, no cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulumi.automation import CommandResult
from pulumi.automation.events import EngineEvent

SERVER = "hcloud:index/server:Server"
FIREWALL = "hcloud:index/firewall:Firewall"
# Made-up credentials of the shape each cloud's check accepts (nothing reaches a cloud).
CREDENTIALS = {
    "hetzner": {"HCLOUD_TOKEN": "hcloud-token-0123456789abcdef0123456789abcdef0123456789abcd"},
    "aws": {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0123", "AWS_SECRET_ACCESS_KEY": "secret-0123456789"},
    "gcp": {
        "GOOGLE_CREDENTIALS": '{"type": "service_account", "project_id": "demo-project"}',
        "GOOGLE_PROJECT": "demo-project",
    },
}


def command_result(stderr: str, stdout: str = "", code: int = 255) -> CommandResult:
    return CommandResult(stdout=stdout, stderr=stderr, code=code)


def _urn(stack: str, rtype: str, name: str) -> str:
    return f"urn:pulumi:{stack}::hybridctl::hybridctl:stacks:HetznerStack${rtype}::{name}"


def pre_event(stack: str, op: str, rtype: str, name: str) -> EngineEvent:
    meta = {"op": op, "urn": _urn(stack, rtype, name), "type": rtype, "provider": ""}
    return EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": meta}}
    )


def done_event(stack: str, op: str, rtype: str, name: str) -> EngineEvent:
    meta = {"op": op, "urn": _urn(stack, rtype, name), "type": rtype, "provider": ""}
    return EngineEvent.from_json(
        {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": meta}}
    )


class FakeStack:
    """Implements hybridctl.deploy.pulumi.automation.StackHandle in memory; records every call."""

    def __init__(self, name: str, *, fail: dict[str, BaseException] | None = None) -> None:
        self.name = name
        self.config: dict[str, str] = {}
        self.secret_keys: set[str] = set()
        self.calls: list[str] = []
        self.fail = fail or {}
        self.plugins: list[tuple[str, str]] = []
        self.deployed_type: str | None = None
        self.program: Any = None
        self.ips = ["198.51.100.7"]

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise self.fail[operation]

    def get_config(self, key: str) -> str | None:
        return self.config.get(key)

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        self._maybe_fail("set_config")
        self.config[key] = value
        if secret:
            self.secret_keys.add(key)

    def ensure_plugin(self, name: str, version: str) -> None:
        self._maybe_fail("ensure_plugin")
        self.plugins.append((name, version))

    def _events(self, on_event: Any, op: str) -> None:
        for rtype, name in ((FIREWALL, f"{self.name}-fw"), (SERVER, f"{self.name}-0")):
            on_event(pre_event(self.name, op, rtype, name))
            on_event(done_event(self.name, op, rtype, name))

    def preview(self, on_event: Any, on_output: Any) -> dict[str, int]:
        self._maybe_fail("preview")
        op = "create" if self.deployed_type is None else "update"
        self._events(on_event, op)
        return {op: 2}

    def up(self, on_event: Any, on_output: Any) -> dict[str, Any]:
        self._maybe_fail("up")
        self._events(on_event, "create" if self.deployed_type is None else "update")
        self.deployed_type = "deployed"
        return self.outputs()

    def refresh(self, on_event: Any, on_output: Any) -> None:
        self._maybe_fail("refresh")

    def destroy(self, on_event: Any, on_output: Any) -> None:
        self._maybe_fail("destroy")
        self.deployed_type = None

    def cancel(self) -> None:
        self._maybe_fail("cancel")

    def outputs(self) -> dict[str, Any]:
        if self.deployed_type is None:
            return {}
        from hybridctl.providers.spec import host_key_fingerprint

        public = self.config["hybridctl:hostKeyPublic"]
        return {
            "ip": self.ips[0],
            "ips": list(self.ips),
            "ssh_user": "root",
            "host_key_fingerprint": host_key_fingerprint(public),
            "gateway_url": f"https://{self.ips[0]}",
        }

    def last_update(self) -> dict[str, Any] | None:
        return {"kind": "update", "result": "succeeded", "started": "t0", "ended": "t1"}

    def remove(self) -> None:
        self._maybe_fail("remove")


class FakeBackend:
    """An opener: one FakeStack per deployment name, kept across driver runs (like a backend)."""

    def __init__(self, **stack_kwargs: Any) -> None:
        self.stacks: dict[str, FakeStack] = {}
        self.targets: list[Any] = []
        self.stack_kwargs = stack_kwargs

    def __call__(self, target: Any) -> FakeStack:
        self.targets.append(target)
        stack = self.stacks.get(target.name)
        if stack is None:
            stack = self.stacks[target.name] = FakeStack(target.name, **self.stack_kwargs)
        stack.program = target.program
        return stack


def write_ssh_key(home: Path) -> Path:
    """An admin key pair at ~/.ssh/id_ed25519(.pub), made by ssh-keygen."""
    import subprocess

    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    key = ssh_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "admin@test", "-f", str(key)],
            check=True,
        )
    return key.with_suffix(".pub")


class FakeBox:
    """The SSH side of a cloud deployment without a network: records each step in `calls`,
    pins keys for real (known_hosts), and can rotate to a given key or fail a check."""

    def __init__(self, calls: list[str] | None = None) -> None:
        from hybridctl.deploy.box.sshbox import SshBox

        self.calls = calls if calls is not None else []
        self.real = SshBox()
        self.rotate_to: str | None = None  # a public key each node "makes" when rotated
        self.problem: str | None = None  # what the check reports (None: healthy)
        self.rollback_problem: str | None = None
        self.backups: list[Path] = []

    def pin(self, record: Any) -> None:
        self.real.pin(record)

    def rotate(self, record: Any, *, say: Any) -> Any:
        self.calls.append("rotate")
        if self.rotate_to is None:
            return record
        from hybridctl.catalog import deployments
        from hybridctl.deploy.box.topology import node_ips

        keys = {ip: self.rotate_to for ip in node_ips(record.outputs)}
        record = record.model_copy(update={"rotated_host_keys": keys})
        self.pin(record)
        deployments.save_record(record)
        return record

    def wait_serving(self, record: Any, models: Any, *, timeout_s: float, say: Any) -> Any:
        self.calls.append(f"wait {record.tier} {','.join(models)}")
        return record

    def backup(self, record: Any, dest: Path, *, say: Any) -> None:
        self.calls.append(f"backup {record.tier}")
        self.backups.append(dest)

    def check(self, record: Any, catalog: Any) -> str | None:
        self.calls.append(f"check {record.tier}")
        return self.problem

    def rollback(self, record: Any, models: Any, *, timeout_s: float, say: Any) -> str | None:
        self.calls.append(f"rollback {','.join(models)}")
        return self.rollback_problem


class MockedBackend(FakeBackend):
    """A FakeBackend whose stacks run the driver's inline program under Pulumi's mocks on `up`,
    keeping each run's recorded resources (the provider's real component, no cloud)."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls
        self.runs: list[Any] = []

    def __call__(self, target: Any) -> FakeStack:
        stack = super().__call__(target)
        backend = self

        if not getattr(stack, "mocked", False):
            original_up, original_preview = stack.up, stack.preview

            def up(on_event: Any, on_output: Any) -> dict[str, Any]:
                from hybridctl.providers.mock_run import run_program

                backend.calls.append("up")
                backend.runs.append(run_program(spec_of(stack.program)))
                return original_up(on_event, on_output)

            def preview(on_event: Any, on_output: Any) -> dict[str, int]:
                backend.calls.append("preview")
                return original_preview(on_event, on_output)

            stack.up, stack.preview = up, preview  # type: ignore[method-assign]
            stack.mocked = True  # type: ignore[attr-defined]
        return stack


def spec_of(program: Any) -> Any:
    """The DeploySpec the driver's inline program builds (held in its closure)."""
    cells = [cell.cell_contents for cell in program.__closure__ or ()]
    return next(c["spec"] for c in cells if isinstance(c, dict) and "spec" in c)


def run_inline(program: Any) -> dict[str, Any]:
    """Run the driver's inline program under Pulumi's mocks (the fake cloud of
    hybridctl.providers.mock_run) and return what it exports, resolved: the stack's real outputs."""
    import itertools

    import pulumi

    from hybridctl.providers import mock_run as plan

    plan.ensure_event_loop()
    ids = itertools.count(1001)

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            ordinal = next(ids)
            return str(ordinal), plan.mock_outputs(args.typ, ordinal, args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            return plan.mock_call(args.token, args.args), []

    exported: dict[str, Any] = {}
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[None]:
        program()
        return pulumi.Output.all(**exported).apply(lambda values: resolved.update(values))

    original = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]
    try:
        plan.use_fresh_mocks(Mocks(), stack="test")
        run()
        return resolved
    finally:
        pulumi.export = original  # type: ignore[assignment]


class InlineBackend(FakeBackend):
    """A FakeBackend whose `up` returns the outputs the driver's inline program exports when it
    runs the provider's real component under Pulumi's mocks."""

    def __call__(self, target: Any) -> FakeStack:
        stack = super().__call__(target)
        if not getattr(stack, "inline", False):
            original_up = stack.up

            def up(on_event: Any, on_output: Any) -> dict[str, Any]:
                original_up(on_event, on_output)
                return run_inline(stack.program)

            stack.up = up  # type: ignore[method-assign]
            stack.inline = True  # type: ignore[attr-defined]
        return stack
