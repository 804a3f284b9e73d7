"""The Automation API behind a small interface, so the driver can be given a fake in tests."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hybridctl.deploy.pulumi.errmap import missing_cli
from hybridctl.deploy.pulumi.passphrase import PASSPHRASE_ENV, Passphrase
from hybridctl.errors import OperationFailed

PROJECT = "hybridctl"
EventHandler = Callable[[Any], None]
OutputHandler = Callable[[str], None]


@dataclass(frozen=True)
class StackTarget:
    """Which stack to open, where its state lives, and the program it runs."""

    name: str
    backend_url: str
    work_dir: Path
    passphrase: Passphrase = field(repr=False)
    program: Callable[[], None] | None = None


class StackHandle(Protocol):
    """The operations the driver needs from one Pulumi stack."""

    name: str

    def get_config(self, key: str) -> str | None: ...
    def set_config(self, key: str, value: str, *, secret: bool = False) -> None: ...
    def ensure_plugin(self, name: str, version: str) -> None: ...
    def preview(self, on_event: EventHandler, on_output: OutputHandler) -> dict[str, int]: ...
    def up(self, on_event: EventHandler, on_output: OutputHandler) -> dict[str, Any]: ...
    def refresh(self, on_event: EventHandler, on_output: OutputHandler) -> None: ...
    def destroy(self, on_event: EventHandler, on_output: OutputHandler) -> None: ...
    def cancel(self) -> None: ...
    def outputs(self) -> dict[str, Any]: ...
    def last_update(self) -> dict[str, Any] | None: ...
    def remove(self) -> None: ...


StackOpener = Callable[[StackTarget], StackHandle]


def find_pulumi_cli() -> Path | None:
    """The pulumi binary on PATH, or where get.pulumi.com installs it (~/.pulumi/bin)."""
    found = shutil.which("pulumi")
    if found:
        return Path(found)
    default = Path.home() / ".pulumi" / "bin" / "pulumi"
    return default if default.is_file() and os.access(default, os.X_OK) else None


def plain_outputs(outputs: Any) -> dict[str, Any]:
    """Stack outputs without their secret ones (those never reach a record or a screen)."""
    result: dict[str, Any] = {}
    for key, item in dict(outputs or {}).items():
        if getattr(item, "secret", False):
            continue
        result[key] = getattr(item, "value", item)
    return result


class AutomationStack:
    """A StackHandle over pulumi.automation's LocalWorkspace (file or any other backend)."""

    def __init__(self, stack: Any, cli: Path, env: dict[str, str]) -> None:
        self._stack = stack
        self._cli = cli
        self._env = env
        self.name = stack.name

    def get_config(self, key: str) -> str | None:
        from pulumi.automation.errors import CommandError

        try:
            return self._stack.get_config(key).value
        except CommandError:
            return None

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        if not secret:
            from pulumi.automation import ConfigValue

            self._stack.set_config(key, ConfigValue(value=value, secret=False))
            return
        # Automation's set_config puts the value on pulumi's command line, where any local user
        # can read it (ps); `pulumi config set --secret KEY --` reads it from stdin instead.
        args = [str(self._cli), "config", "set", "--secret", key, "--stack", self.name]
        result = subprocess.run(
            [*args, "--non-interactive", "--"],
            input=value,
            text=True,
            capture_output=True,
            cwd=self._stack.workspace.work_dir,
            env={**os.environ, **self._env},
            check=False,
        )
        if result.returncode != 0:
            raise OperationFailed(
                f"pulumi could not store the secret config value {key}: "
                f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}",
                hint="Check the passphrase (PULUMI_CONFIG_PASSPHRASE) and the workspace "
                f"{self._stack.workspace.work_dir}.",
            )

    def ensure_plugin(self, name: str, version: str) -> None:
        workspace = self._stack.workspace
        installed = {(p.name, str(p.version or "")) for p in workspace.list_plugins()}
        if (name, version.lstrip("v")) not in installed:
            workspace.install_plugin(name, version if version.startswith("v") else f"v{version}")

    def preview(self, on_event: EventHandler, on_output: OutputHandler) -> dict[str, int]:
        result = self._stack.preview(on_event=on_event, on_output=on_output, color="never")
        return {str(k): int(v) for k, v in (result.change_summary or {}).items()}

    def up(self, on_event: EventHandler, on_output: OutputHandler) -> dict[str, Any]:
        result = self._stack.up(on_event=on_event, on_output=on_output, color="never")
        return plain_outputs(result.outputs)

    def refresh(self, on_event: EventHandler, on_output: OutputHandler) -> None:
        self._stack.refresh(
            on_event=on_event, on_output=on_output, color="never", clear_pending_creates=True
        )

    def destroy(self, on_event: EventHandler, on_output: OutputHandler) -> None:
        self._stack.destroy(on_event=on_event, on_output=on_output, color="never")

    def cancel(self) -> None:
        self._stack.cancel()

    def outputs(self) -> dict[str, Any]:
        return plain_outputs(self._stack.outputs())

    def last_update(self) -> dict[str, Any] | None:
        summary = self._stack.info(show_secrets=False)
        if summary is None:
            return None
        return {
            "kind": summary.kind,
            "result": summary.result,
            "started": str(summary.start_time),
            "ended": str(summary.end_time) if summary.end_time else None,
            "resource_changes": dict(summary.resource_changes or {}),
        }

    def remove(self) -> None:
        self._stack.workspace.remove_stack(self.name)


def open_automation_stack(target: StackTarget) -> StackHandle:
    """Create or select the deployment's stack with an inline program and a passphrase provider."""
    from pulumi import automation as auto

    cli = find_pulumi_cli()
    if cli is None:
        raise missing_cli()
    target.work_dir.mkdir(parents=True, exist_ok=True)
    env = {PASSPHRASE_ENV: target.passphrase.value, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    if target.backend_url.startswith("file://"):
        Path(target.backend_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    command = auto.PulumiCommand(root=str(cli.parent.parent)) if cli.parent.name == "bin" else None
    options = auto.LocalWorkspaceOptions(
        work_dir=str(target.work_dir),
        secrets_provider="passphrase",
        env_vars=env,
        pulumi_command=command,
        project_settings=auto.ProjectSettings(
            name=PROJECT,
            runtime="python",
            backend=auto.ProjectBackend(url=target.backend_url),
        ),
    )
    stack = auto.create_or_select_stack(
        stack_name=target.name,
        project_name=PROJECT,
        program=target.program or (lambda: None),
        opts=options,
    )
    return AutomationStack(stack, cli, env)


def encode_key(private_openssh: str) -> str:
    """A one-line form of a private key for stack config (decoded with decode_key)."""
    return base64.b64encode(private_openssh.encode()).decode()


def decode_key(encoded: str) -> str:
    return base64.b64decode(encoded.encode()).decode()
