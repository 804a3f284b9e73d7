"""`deploy --provider local`: the rendered bundle run by Docker Compose on this machine."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console
from rich.markup import escape

from hybridctl.catalog import deployments
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.adapter import LocalBox
from hybridctl.deploy.box.failure import (
    failed_services,
    keep_failure_log,
    model_file_hint,
)
from hybridctl.deploy.box.serving import BootResult, wait_for_box
from hybridctl.deploy.box.verify import boot_problem
from hybridctl.deploy.compose.compose import (
    BUNDLE_DIR,
    ComposeProject,
    check_engine,
    compose_said,
    project_for,
)
from hybridctl.deploy.compose.localfit import COMPOSE_FILE, changed_mounts, file_hashes, host_cpus
from hybridctl.deploy.compose.localopts import save_local_options
from hybridctl.deploy.compose.seed import ModelSeed, check_seeds
from hybridctl.errors import CheckFailed, OperationFailed, UsageError
from hybridctl.providers.local import LOCAL
from hybridctl.stackfacts import CA_FILE, MODEL_DOWNLOADER

if TYPE_CHECKING:
    from hybridctl.deploy.compose.compose import ServiceState
    from hybridctl.render import RenderOptions

PROVIDER = LOCAL.name
DEFAULT_NAME = "hybridctl-local"
UP_LOG = "compose-up.log"
PUBLISH_ADDRESS = "127.0.0.1"  # a local box is reached from this machine only
EXAMPLE_PROMPT = "What are your opening hours?"


@dataclass(frozen=True)
class LocalRequest:
    """What `deploy --provider local` was asked for."""

    tier_id: str
    name: str | None = None
    images: dict[str, str | None] = field(default_factory=dict)
    route_urls: dict[str, str] = field(default_factory=dict)
    model_files: dict[str, Path] = field(default_factory=dict)
    allow_unverified: bool = False
    https_port: int = 443
    http_port: int = 80
    timeout_s: float = 900


def endpoint(https_port: int) -> str:
    return "https://localhost" + ("" if https_port == 443 else f":{https_port}")


def curl_example(base_url: str, ca_file: Path, env_file: Path) -> str:
    """A request that works as printed: the key is read from .env, never shown."""
    body = (
        '{"model": "hybrid", "messages": [{"role": "user", "content": "' + EXAMPLE_PROMPT + '"}]}'
    )
    read_key = f'sed -n "s/^LITELLM_MASTER_KEY=//p" {shlex.quote(str(env_file))}'
    key = f'"Authorization: Bearer $({read_key})"'
    return (
        f"curl --cacert {shlex.quote(str(ca_file))} {base_url}/v1/chat/completions "
        f"-H {key} -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


class _UpFailed(Exception):
    """`docker compose up` exited non-zero: the box may still serve its old containers."""


def _up_status(up: Any) -> int | None:
    code: int | None = up.poll()
    if code:
        raise _UpFailed(code)
    return code


class LocalDeployer:
    """Deploy, inspect and destroy boxes that run under Docker Compose on this machine."""

    def __init__(self, console: Console, *, confirm: Callable[[str], bool]) -> None:
        self.console = console
        self.confirm = confirm

    def _say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def _existing(self, name: str) -> deployments.DeploymentRecord | None:
        record = deployments.find_record(name)
        if record is not None and record.provider != PROVIDER:
            raise UsageError(
                f"deployment {name} runs on {record.provider}, not on this machine",
                hint="Pick another --name for the local box.",
            )
        return record

    def _render(self, catalog: Catalog, request: LocalRequest, name: str) -> Path:
        """Render into the deployment's bundle; fit it to this machine; remove the containers
        whose mounted files changed, so `up` recreates them."""
        bundle = deployments.deployment_dir(name) / BUNDLE_DIR
        before = file_hashes(bundle)
        cpus = host_cpus()
        self._render_files(catalog, request, bundle, cpus)
        vcpu = catalog.tier(request.tier_id).vcpu
        if cpus < vcpu:
            self._say(
                f"llm: cpus limit sized for this machine's {cpus} CPUs (the tier has {vcpu:g})"
            )
        stale = changed_mounts(bundle, before)
        if stale:
            for service, files in stale.items():
                self._say(f"{service}: recreated ({', '.join(files)} changed)")
            ComposeProject(name, bundle).run("rm", "--stop", "--force", *stale, timeout=300)
        return bundle

    def _options(self, request: LocalRequest, cpus: int) -> RenderOptions:
        from hybridctl.render import RenderOptions

        return RenderOptions(
            tier_id=request.tier_id,
            provider=PROVIDER,
            images=request.images,
            route_urls=request.route_urls,
            publish_address=PUBLISH_ADDRESS,
            https_port=request.https_port,
            http_port=request.http_port,
            allow_unverified=request.allow_unverified,
            host_cpus=cpus,
        )

    def _check_images(self, catalog: Catalog, request: LocalRequest) -> None:
        """Every image the stack runs is here, or pulled, before anything on the box changes: an
        image no registry serves fails the deploy within a minute, not halfway through `up`."""
        from hybridctl.catalog.checks import require_verified
        from hybridctl.deploy.compose.pull import compose_images, ensure_images
        from hybridctl.render import render_files

        tier = catalog.tier(request.tier_id)
        require_verified(catalog, tier, allow_unverified=request.allow_unverified)  # input first
        rendered = render_files(catalog, self._options(request, host_cpus()))
        ensure_images(compose_images(rendered.files[COMPOSE_FILE]), say=self._say)

    def _render_files(
        self, catalog: Catalog, request: LocalRequest, bundle: Path, cpus: int
    ) -> None:
        from hybridctl.render import render_bundle

        result = render_bundle(catalog, self._options(request, cpus), bundle, force=True)
        if result.problems:
            raise CheckFailed(
                "the rendered bundle fails its checks:\n"
                + "\n".join(f"  - {p}" for p in result.problems),
                hint="This is a bug in the templates or the catalog; please report it.",
            )

    def _seed(self, project: ComposeProject, seeds: list[ModelSeed]) -> None:
        from hybridctl.render.context import model_filename

        for seed in seeds:
            target = model_filename(seed.model)
            if not seed.verified:
                self.console.print(
                    f"[yellow]warning:[/] {escape(seed.model)} is served from "
                    f"{escape(str(seed.path))}, which does not match the catalog's sha256 "
                    "(--allow-unverified)"
                )
            # The copy's page cache is left in small pages, and a server that maps it then
            # decodes about 25% slower than from a file read afresh (docs/performance.md): drop
            # it, so the server reads the file in large folios.
            script = (
                f"if cmp -s /seed/{target} /models/{target}; then echo unchanged; else "
                f"cp /seed/{target} /models/{target}.part && "
                f"mv /models/{target}.part /models/{target} && echo copied; fi; "
                f"sync /models/{target}; "
                f"dd if=/models/{target} iflag=nocache count=0 status=none 2>/dev/null || true"
            )
            done = project.run(
                "run",
                "--rm",
                "--no-deps",
                "-T",
                "--volume",
                f"{seed.path}:/seed/{target}:ro",
                "--entrypoint",
                "/bin/sh",
                MODEL_DOWNLOADER,
                "-c",
                script,
                timeout=1800,
            )
            self._say(f"models: {seed.model} {done.stdout.strip() or 'seeded'} from {seed.path}")

    def deploy(
        self, catalog: Catalog, request: LocalRequest, *, yes: bool = True
    ) -> deployments.DeploymentRecord:
        """Render, seed the models, `compose up`, and wait until the box serves.

        `yes` is the cloud driver's confirmation; nothing on this machine needs one.
        """
        from hybridctl.catalog import find_tier

        tier = find_tier(catalog, request.tier_id)
        name = deployments.check_name(request.name or DEFAULT_NAME)
        previous = self._existing(name)
        seeds = check_seeds(
            catalog, tier, request.model_files, allow_unverified=request.allow_unverified
        )
        check_engine()
        request = replace(request, tier_id=tier.id)
        self.console.print(
            f"[bold]Deploying[/] {name}: tier {tier.id} under Docker Compose on this machine "
            f"(bundle {escape(str(deployments.deployment_dir(name) / BUNDLE_DIR))})"
        )
        self._check_images(catalog, request)
        bundle = self._render(catalog, request, name)
        save_local_options(name, request)  # so `upgrade` re-renders with the same choices
        folder = deployments.deployment_dir(name)
        ca_file = folder / CA_FILE
        base_url = endpoint(request.https_port)
        stamp = deployments.now()
        record = deployments.DeploymentRecord(
            name=name,
            provider=PROVIDER,
            tier=tier.id,
            region="localhost",
            instance_type="docker compose",
            nodes=1,
            admin_cidr=f"{PUBLISH_ADDRESS}/32",
            ssh_public_key="",
            host_key_public="",
            host_key_fingerprint="",
            known_hosts="",
            backend_url=f"docker compose project {name}",
            monthly_usd=0.0,
            status="deploying",
            created=previous.created if previous else stamp,
            updated=stamp,
        )
        deployments.save_record(record)
        project = ComposeProject(name, bundle)
        self._seed(project, seeds)
        models = [entry.model for entry in tier.models]
        with (folder / UP_LOG).open("w") as log:
            up = project.start("up", "--detach", "--remove-orphans", log=log)
            try:
                boot = wait_for_box(
                    LocalBox(name, bundle, timeout_exit=True),
                    base_url,
                    ca_file,
                    timeout_s=request.timeout_s,
                    say=self._say,
                    up_status=lambda: _up_status(up),
                )
            except _UpFailed as exc:
                self._up_failed(record, project, exc.args[0], models)
            if up.poll() is None:
                up.terminate()
                up.wait(timeout=30)
        return self._finish(record, project, boot, base_url, ca_file, models)

    def _up_failed(
        self,
        record: deployments.DeploymentRecord,
        project: ComposeProject,
        code: int,
        models: list[str],
    ) -> NoReturn:
        """A failed `up` is a failed deploy even where the old containers still serve."""
        said = compose_said((project.bundle.parent / UP_LOG).read_text(errors="replace"))
        problem = f"docker compose up failed (exit {code}):\n{said}"
        failed = {"status": "failed", "updated": deployments.now(), "last_error": problem}
        deployments.save_record(record.model_copy(update=failed))
        box = LocalBox(project.name, project.bundle, timeout_exit=True)
        services = failed_services(box)
        kept, shown = keep_failure_log(box, record.name, f"deploy: {problem}", services)
        raise CheckFailed(
            f"{record.name}: {problem}" + (f"\n{shown}" if shown else ""),
            hint=_failure_hint(
                record.name,
                services,
                models,
                kept,
                "Fix the cause and deploy again; `hybridctl status {name}` shows what still runs",
            ),
        )

    def _finish(
        self,
        record: deployments.DeploymentRecord,
        project: ComposeProject,
        boot: BootResult,
        base_url: str,
        ca_file: Path,
        models: list[str],
    ) -> deployments.DeploymentRecord:
        env_file = project.bundle / ".env"
        outputs = {
            "endpoint": base_url,
            "ca_cert": str(ca_file),
            "api_key": f"LITELLM_MASTER_KEY in {env_file}",
            "bundle": str(project.bundle),
            "curl": curl_example(base_url, ca_file, env_file),
        }
        problem = boot_problem(boot)
        if problem is not None and boot.gateway_ok:
            problem += "; cloud routes still answer"
        if problem is not None and not boot.ca_fetched:
            up_log = compose_said((project.bundle.parent / UP_LOG).read_text(errors="replace"))
            problem += f"; docker compose up said:\n{up_log}"
        record = record.model_copy(
            update={
                "status": "deployed" if problem is None else "failed",
                "updated": deployments.now(),
                "outputs": outputs,
                "last_error": problem,
            }
        )
        deployments.save_record(record)
        if problem is not None:
            kept, shown = keep_failure_log(
                LocalBox(project.name, project.bundle, timeout_exit=True),
                record.name,
                f"deploy: {problem}",
                boot.failed,
            )
            raise CheckFailed(
                f"{record.name}: {problem} after {boot.seconds:.0f} s"
                + (f"\n{shown}" if shown else ""),
                hint=_failure_hint(
                    record.name,
                    boot.failed,
                    models,
                    kept,
                    "`hybridctl status {name}` shows each service; `hybridctl destroy {name}` "
                    "removes the box",
                ),
            )
        return record

    def destroy(self, name: str, *, yes: bool) -> deployments.DeploymentRecord:
        """Stop and remove the compose project with its volumes, then forget the deployment."""
        record = deployments.load_record(name)
        question = (
            f"Destroy local deployment {name} (tier {record.tier})? This removes its containers "
            "and volumes (models, spend counter, certificates)."
        )
        if not yes and not self.confirm(question):
            raise OperationFailed("destroy cancelled at the confirmation; nothing was changed")
        project = project_for(name)
        if project.bundle.is_dir():
            check_engine()
            project.run("down", "--volumes", "--remove-orphans", "--timeout", "20")
        deployments.remove_deployment(name)
        return record

    def live_status(self, name: str) -> dict[str, Any]:
        """The record, plus each service's container state from Docker."""
        record = deployments.load_record(name)
        status: dict[str, Any] = {"record": record.model_dump(), "live": None, "live_error": None}
        try:
            check_engine()
            states = project_for(name).states()
        except (UsageError, OperationFailed) as exc:
            status["live_error"] = exc.message
            return status
        status["live"] = {
            "services": {
                s.service: {
                    "state": s.state,
                    "health": s.health,
                    "exit_code": s.exit_code,
                    "ports": list(s.ports),
                }
                for s in states.values()
            }
        }
        return status


def _failure_hint(
    name: str, services: list[ServiceState], models: list[str], kept: Path, then: str
) -> str:
    """What to do about a failed boot: the model files where the download failed, the next
    step, and where every service's last lines are kept."""
    download_failed = any(s.service == MODEL_DOWNLOADER for s in services)
    first = model_file_hint(models) + " " if download_failed else ""
    return f"{first}{then.format(name=name)}. Every service's last lines are kept in {kept}."
