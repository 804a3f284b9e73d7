"""The deploy driver: checks, host key, config, preview, confirm, up, records; destroy, cancel."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from rich.console import Console
from rich.markup import escape

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.box import hostkeys
from hybridctl.deploy.box.push import deliver_stack
from hybridctl.deploy.box.rotation import scrub_metadata_spec
from hybridctl.deploy.box.sshbox import SshBox
from hybridctl.deploy.pulumi.automation import (
    StackHandle,
    StackOpener,
    StackTarget,
    decode_key,
    encode_key,
    find_pulumi_cli,
    open_automation_stack,
)
from hybridctl.deploy.pulumi.changes import change_warnings, server_replaced
from hybridctl.deploy.pulumi.errmap import map_pulumi_error, missing_cli
from hybridctl.deploy.pulumi.passphrase import load_passphrase
from hybridctl.deploy.pulumi.progress import EventProgress
from hybridctl.deploy.pulumi.session import (
    HOST_KEY_CONFIG,
    HOST_KEY_PUBLIC_CONFIG,
    Session,
    default_backend_url,
    make_program,
)
from hybridctl.deploy.pulumi.spec import (
    DeployRequest,
    Resolved,
    build_spec,
    bundle_archive_for,
    new_record,
    resolve_deploy,
)
from hybridctl.errors import HybridctlError, OperationFailed
from hybridctl.extras import require_extra
from hybridctl.providers.base import ProviderConfig
from hybridctl.providers.registry import check_spec, get_cloud
from hybridctl.providers.spec import DeploySpec


class _Declined(Exception):
    """The user answered no at the confirmation."""


class Deployer:
    """Runs deploy/resume/cancel/destroy/status on Pulumi stacks, one per deployment name."""

    def __init__(
        self,
        console: Console,
        *,
        opener: StackOpener | None = None,
        confirm: Callable[[str], bool] | None = None,
        env: Mapping[str, str] | None = None,
        cli_finder: Callable[[], Any] | None = None,
        pusher: Callable[..., None] | None = None,
        box: Any = None,
    ) -> None:
        self.console = console
        # Looked up at call time, so tests can swap the Automation API for a fake.
        self.opener = opener or (lambda target: open_automation_stack(target))
        self.confirm = confirm or (lambda question: False)
        self.env = os.environ if env is None else env
        self.cli_finder = cli_finder or (lambda: find_pulumi_cli())
        self.pusher = pusher or deliver_stack  # the bundle and .env, over SSH, to each node
        self.box = box or SshBox()  # after the push: host key rotation, the serving wait
        self.server_replaced = False
        self.full_spec: tuple[dict[str, DeploySpec], DeploySpec] | None = None

    # -- preconditions -----------------------------------------------------------------------

    def _require_cli(self) -> None:
        require_extra("deploy")  # the Python packages before the CLI: both are needed
        if self.cli_finder() is None:
            raise missing_cli()

    def _open(
        self,
        name: str,
        backend: str | None,
        spec_box: dict[str, DeploySpec] | None,
        config: ProviderConfig | None,
        *,
        create_passphrase: bool = True,
    ) -> Session:
        self._require_cli()
        passphrase = load_passphrase(create=create_passphrase)
        if passphrase.created:
            self.console.print(
                f"Created a passphrase for Pulumi secrets in {passphrase.source} (0600). Keep it: "
                "without it the deployment's secrets cannot be decrypted."
            )
        backend_url = backend or default_backend_url()
        target = StackTarget(
            name=name,
            backend_url=backend_url,
            work_dir=deployments.workspace_dir(name),
            passphrase=passphrase,
            program=make_program(spec_box) if spec_box is not None else None,
        )
        secrets = [passphrase.value, *(config.secret.values() if config else [])]
        try:
            stack = self.opener(target)
        except Exception as exc:
            raise map_pulumi_error(
                exc, name=name, operation="stack selection", secrets=secrets
            ) from None
        return Session(stack, passphrase, config, backend_url)

    def _run(self, session: Session, name: str, operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except HybridctlError:
            raise
        except Exception as exc:
            raise map_pulumi_error(
                exc, name=name, operation=operation, secrets=session.secrets
            ) from None

    # -- deploy --------------------------------------------------------------------------------

    def deploy(
        self, catalog: Any, request: DeployRequest, *, yes: bool, resume: bool = False
    ) -> DeploymentRecord:
        """Preview, confirm and apply a deployment (a new one, a tier change, or a resume)."""
        resolved = resolve_deploy(catalog, request)  # once: everything below applies it
        existing = resolved.existing
        config = get_cloud(resolved.provider).credentials(resolved.region, self.env)

        spec_box: dict[str, DeploySpec] = {}
        session = self._open(resolved.name, resolved.backend, spec_box, config)
        host_private, host_public = self._host_key(session, resolved.name)
        session.extra_secrets += [host_private, encode_key(host_private)]
        dotenv = self._dotenv(resolved.name)
        session.extra_secrets += list(dotenv.values())
        spec = build_spec(resolved, host_private, host_public)
        check_spec(spec)
        rotated = len(existing.rotated_host_keys) if existing else 0
        spec_box["spec"] = scrub_metadata_spec(spec, rotated)
        self.full_spec = (spec_box, spec)  # a replaced server needs the key: see _apply

        record = new_record(resolved, spec, session.backend_url, status="deploying")
        deployments.save_record(record)
        self.box.pin(record)
        try:
            outputs = self._apply(session, resolved, existing, config, yes=yes, resume=resume)
        except _Declined:
            if existing is None:
                self._forget_new(session, resolved.name)
            else:
                deployments.save_record(existing)
            raise OperationFailed(
                "deploy cancelled at the confirmation; nothing was changed"
            ) from None
        except HybridctlError as exc:
            failed = {"status": "failed", "last_error": exc.message, "updated": deployments.now()}
            deployments.save_record(record.model_copy(update=failed))
            raise
        if self.server_replaced:  # a new server boots with the user data's key: rotate again
            record = record.model_copy(update={"rotated_host_keys": {}})
        if resolved.domain:  # clients verify its public certificate, not an exported CA
            outputs = {**outputs, "domain": resolved.domain}
        done = self._finish(record, outputs, host_public)
        self.console.print(f"Copying the stack to {done.name} over SSH (host key pinned) ...")
        try:
            self.pusher(done, bundle_archive_for(resolved), dotenv, say=self._say)
            done = self.box.rotate(done, say=self._say)
            self._scrub_metadata(session, spec_box, done)
            self.console.print(f"Waiting for {done.name} to serve (cloud-init, then the stack) ...")
            models = [entry.model for entry in resolved.tier.models]
            done = self.box.wait_serving(done, models, timeout_s=request.wait_s, say=self._say)
        except HybridctlError as exc:
            failed = {"status": "failed", "last_error": exc.message, "updated": deployments.now()}
            deployments.save_record(done.model_copy(update=failed))
            raise
        return done

    def _scrub_metadata(
        self, session: Session, spec_box: dict[str, DeploySpec], record: DeploymentRecord
    ) -> None:
        """Where the cloud changes metadata live, drop the host private key from the user data
        once every node has its own key (one more update, nothing restarts)."""
        scrubbed = scrub_metadata_spec(spec_box["spec"], len(record.rotated_host_keys))
        if scrubbed.user_data == spec_box["spec"].user_data:
            return
        spec_box["spec"] = scrubbed
        self.console.print("Removing the host private key from the instance metadata ...")
        with EventProgress(self.console, secrets=session.secrets) as progress:
            self._run(
                session,
                record.name,
                "update",
                lambda: session.stack.up(progress.on_event, progress.on_output),
            )

    def _say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def _apply(
        self,
        session: Session,
        resolved: Resolved,
        existing: DeploymentRecord | None,
        config: ProviderConfig,
        *,
        yes: bool,
        resume: bool,
    ) -> dict[str, Any]:
        """Configure, (refresh,) preview, confirm and update; the stack outputs."""
        stack, name = session.stack, resolved.name
        self._run(session, name, "configuration", lambda: self._configure(stack, config))
        self._run(
            session, name, "plugin installation", lambda: self._plugins(stack, resolved.provider)
        )
        if resume:
            self.console.print(f"Refreshing [bold]{name}[/] (clears pending operations) ...")
            with EventProgress(self.console, secrets=session.secrets) as progress:
                self._run(
                    session,
                    name,
                    "refresh",
                    lambda: stack.refresh(progress.on_event, progress.on_output),
                )

        self.console.print(
            f"Previewing [bold]{name}[/] ({resolved.provider}, tier {resolved.tier.id}) ..."
        )
        preview = EventProgress(self.console, secrets=session.secrets, preview=True)
        summary = self._run(
            session, name, "preview", lambda: stack.preview(preview.on_event, preview.on_output)
        )
        self._show_preview(preview, summary)
        self._warn_about_changes(existing, resolved, preview)
        self.server_replaced = server_replaced(preview.changes())
        if self.server_replaced and self.full_spec:  # a new server boots with the pinned key
            spec_box, full = self.full_spec
            spec_box["spec"] = full
        changes = {k: v for k, v in summary.items() if k != "same" and v}
        if not changes and existing is not None:
            self.console.print("No changes to the resources; refreshing the outputs.")
        elif not yes and not self.confirm(f"Apply these changes to {name}?"):
            raise _Declined()

        self.console.print(f"Deploying [bold]{name}[/] ...")
        with EventProgress(self.console, secrets=session.secrets) as progress:
            outputs: dict[str, Any] = self._run(
                session, name, "update", lambda: stack.up(progress.on_event, progress.on_output)
            )
        return outputs

    def _dotenv(self, name: str) -> dict[str, str]:
        """The stack's .env (API keys from the environment, generated secrets), kept 0600 in
        the deployment's folder so updates reuse it; it reaches the box over SSH."""
        from hybridctl.render.envfile import ENV_FILE, ensure_env

        result = ensure_env(deployments.deployment_dir(name), environ=self.env)
        path = deployments.deployment_dir(name) / ENV_FILE
        if result.generated:
            self.console.print(f"Generated {', '.join(result.generated)} in {path} (0600).")
        if result.from_environment:
            self.console.print(f"Took {', '.join(result.from_environment)} from the environment.")
        return dict(result.values)

    def _host_key(self, session: Session, name: str) -> tuple[str, str]:
        """The stack's pinned host key, or a new one stored (secret) in the stack config."""
        stack = session.stack
        encoded = self._run(
            session, name, "configuration", lambda: stack.get_config(HOST_KEY_CONFIG)
        )
        public = self._run(
            session, name, "configuration", lambda: stack.get_config(HOST_KEY_PUBLIC_CONFIG)
        )
        if encoded and public:
            return decode_key(encoded), public
        private, public = hostkeys.generate_host_key(hostkeys.host_alias(name))
        session_secrets = [*session.secrets, private, encode_key(private)]
        try:
            stack.set_config(HOST_KEY_CONFIG, encode_key(private), secret=True)
            stack.set_config(HOST_KEY_PUBLIC_CONFIG, public)
        except HybridctlError:
            raise
        except Exception as exc:
            raise map_pulumi_error(
                exc, name=name, operation="configuration", secrets=session_secrets
            ) from None
        self.console.print(f"Generated the server's SSH host key: {hostkeys.fingerprint(public)}")
        return private, public

    @staticmethod
    def _configure(stack: StackHandle, config: ProviderConfig) -> None:
        for key, value in config.plain.items():
            stack.set_config(key, value)
        for key, value in config.secret.items():
            stack.set_config(key, value, secret=True)

    @staticmethod
    def _plugins(stack: StackHandle, provider: str) -> None:
        cloud = get_cloud(provider)
        stack.ensure_plugin(cloud.plugin, f"v{metadata.version(cloud.package)}")

    def _finish(
        self, record: DeploymentRecord, outputs: dict[str, Any], host_public: str
    ) -> DeploymentRecord:
        pinned = hostkeys.fingerprint(host_public)
        reported = outputs.get("host_key_fingerprint")
        if reported and reported != pinned:
            raise OperationFailed(
                f"the stack reports host key {reported}, but hybridctl pinned {pinned}",
                hint="Do not connect; check the stack program and redeploy.",
            )
        done = record.model_copy(
            update={
                "status": "deployed",
                "outputs": outputs,
                "updated": deployments.now(),
                "last_error": None,
            }
        )
        self.box.pin(done)
        deployments.save_record(done)
        return done

    def _forget_new(self, session: Session, name: str) -> None:
        with contextlib.suppress(Exception):  # an empty stack we created: best effort
            session.stack.remove()
        deployments.remove_deployment(name)

    def _show_preview(self, preview: EventProgress, summary: dict[str, int]) -> None:
        for step in preview.changes():
            self.console.print(f"  {step.op:<8} {step.type}  {step.name}", highlight=False)
        counts = (
            ", ".join(f"{v} to {k}" for k, v in summary.items() if v and k != "same")
            or "no changes"
        )
        self.console.print(f"Plan: {counts}.")

    def _warn_about_changes(
        self, existing: DeploymentRecord | None, resolved: Resolved, preview: EventProgress
    ) -> None:
        for message in change_warnings(existing, resolved, preview.changes()):
            self.console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)

    # -- other operations ----------------------------------------------------------------------

    def resume(
        self, catalog: Any, name: str, *, yes: bool, backend: str | None = None
    ) -> DeploymentRecord:
        """Refresh (clearing pending operations) then update, with the recorded choices."""
        record = deployments.load_record(name)
        request = DeployRequest(
            tier_id=record.tier,
            provider=record.provider,
            region=record.region,
            name=record.name,
            nodes=record.nodes,
            admin_cidr=record.admin_cidr,
            backend=backend or record.backend_url,
        )
        return self.deploy(catalog, request, yes=yes, resume=True)

    def cancel(self, name: str, *, backend: str | None = None) -> None:
        """Release a stale lock on the deployment's stack (`pulumi cancel`)."""
        record = deployments.load_record(name)
        session = self._open(
            name, backend or record.backend_url, None, None, create_passphrase=False
        )
        self._run(session, name, "cancel", session.stack.cancel)
        deployments.save_record(record.model_copy(update={"updated": deployments.now()}))

    def destroy(self, name: str, *, yes: bool, backend: str | None = None) -> DeploymentRecord:
        """Delete every resource of the deployment, then its stack and its record."""
        record = deployments.load_record(name)
        config = get_cloud(record.provider).credentials(record.region, self.env)
        session = self._open(
            name, backend or record.backend_url, None, config, create_passphrase=False
        )
        question = (
            f"Destroy deployment {name} ({record.provider}, tier {record.tier}, {record.nodes} "
            f"node(s), {record.outputs.get('ip', 'no IP yet')})? "
            "This deletes its servers and volumes."
        )
        if not yes and not self.confirm(question):
            raise OperationFailed("destroy cancelled at the confirmation; nothing was changed")
        stack = session.stack
        self._run(session, name, "configuration", lambda: self._configure(stack, config))
        deployments.save_record(
            record.model_copy(update={"status": "destroying", "updated": deployments.now()})
        )
        with EventProgress(self.console, secrets=session.secrets) as progress:
            self._run(
                session,
                name,
                "destroy",
                lambda: stack.destroy(progress.on_event, progress.on_output),
            )
        self._run(session, name, "stack removal", stack.remove)
        deployments.remove_deployment(name)
        return record

    def live_status(self, name: str) -> dict[str, Any]:
        """The record, plus the stack's last update and outputs when the Pulumi CLI is here."""
        record = deployments.load_record(name)
        status: dict[str, Any] = {"record": record.model_dump(), "live": None, "live_error": None}
        if self.cli_finder() is None:
            status["live_error"] = "the Pulumi CLI is not installed; showing the saved record"
            return status
        try:
            session = self._open(name, record.backend_url, None, None, create_passphrase=False)
            status["live"] = {
                "last_update": self._run(session, name, "status", session.stack.last_update),
                "outputs": self._run(session, name, "status", session.stack.outputs),
            }
        except HybridctlError as exc:
            status["live_error"] = exc.message
        return status
