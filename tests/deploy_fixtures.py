"""A fake Pulumi stack for the deploy driver's tests: real engine events, no CLI, no cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulumi.automation._cmd import CommandResult
from pulumi.automation.events import EngineEvent

SERVER = "hcloud:index/server:Server"
FIREWALL = "hcloud:index/firewall:Firewall"


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
    """Implements hybridctl.deploy.automation.StackHandle in memory; records every call."""

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
        from hybridctl.stacks.base import host_key_fingerprint

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
