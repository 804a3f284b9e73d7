"""`restore`: put a backup's volumes and keys back on a deployment's box, then wait for it."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.adapter import Box
from hybridctl.errors import OperationFailed
from hybridctl.ops.backup import ENV_PART, check_fits, read_backup
from hybridctl.ops.check import CheckReport, check_deployment
from hybridctl.ops.probes import declared_services, fetch_ca
from hybridctl.providers.registry import is_local
from hybridctl.waiting import poll_until

POLL_S = 5.0


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    restored: list[str]
    notes: list[str]
    report: CheckReport


def _untar_in(runner: Box, service: str, path: str, data: bytes) -> None:
    """Empty the volume, then unpack the part into it, in a one-off container of the service."""
    target = shlex.quote(path)
    script = f"find {target} -mindepth 1 -delete && tar -xf - -C {target} -o"
    done = runner.compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "/bin/sh", service, "-c", script,
        stdin=data, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        raise OperationFailed(
            f"restoring {service}:{path} on {runner.where} failed: {done.error_text[-400:]}",
            hint="The service is stopped; run the restore again once the cause is fixed.",
        )


def _write_env(runner: Box, data: bytes) -> None:
    folder = shlex.quote(runner.directory)
    script = f"umask 077 && cat > {folder}/.env.new && mv {folder}/.env.new {folder}/.env"
    done = runner.shell(script, stdin=data, timeout=60)
    if done.returncode != 0:
        raise OperationFailed(f"writing the .env on {runner.where} failed: {done.error_text}")


def _keep_local_env(record: DeploymentRecord, data: bytes) -> None:
    """A cloud deployment keeps its .env here too, and the next deploy pushes that copy: it
    must hold the restored keys, or an update would put the old ones back."""
    if is_local(record.provider):
        return  # the bundle's .env on this machine is the box's own
    from hybridctl.catalog.deployments import deployment_dir
    from hybridctl.render.envfile import ENV_FILE, parse_env, write_env

    write_env(deployment_dir(record.name) / ENV_FILE, parse_env(data.decode("utf-8")))


def restore_backup(
    record: DeploymentRecord,
    catalog: Catalog,
    runner: Box,
    archive: Path,
    *,
    wait_s: float = 600,
    say: Callable[[str], None] = lambda _: None,
) -> RestoreResult:
    """Check the archive, stop the stack, restore each part and the .env, start, check."""
    from hybridctl import __version__

    manifest, blobs = read_backup(archive)
    check_fits(manifest, record, declared_services(runner))
    notes = []
    if manifest.get("hybridctl_version") != __version__:
        notes.append(
            f"written by hybridctl {manifest.get('hybridctl_version')}, restored by {__version__}"
        )
    say(f"backup of {manifest['deployment']} (tier {manifest['tier']}, {manifest['created']})")
    # The restored services and the gateway (it writes the spend); the model server keeps its
    # models loaded.
    services = {info["service"] for info in manifest["parts"].values() if info.get("service")}
    stopping = sorted((services | {"gateway"}) & set(declared_services(runner)))
    stopped = runner.compose("stop", "--timeout", "20", *stopping, timeout=300)
    if stopped.returncode != 0:
        raise OperationFailed(f"stopping the stack on {runner.where} failed: {stopped.error_text}")
    restored = []
    for name, info in manifest["parts"].items():
        if name == ENV_PART:
            _write_env(runner, blobs[info["file"]])
            _keep_local_env(record, blobs[info["file"]])
        else:
            _untar_in(runner, info["service"], info["path"], blobs[info["file"]])
        restored.append(name)
        say(f"{name}: restored")
    started = runner.compose("up", "--detach", "--remove-orphans", timeout=900)
    if started.returncode != 0:
        raise OperationFailed(f"starting the stack on {runner.where} failed: {started.error_text}")
    _refresh_ca(record, runner, say)
    report = wait_until_healthy(record, catalog, runner, wait_s=wait_s, say=say)
    return RestoreResult(manifest, restored, notes, report)


def _refresh_ca(record: DeploymentRecord, runner: Box, say: Callable[[str], None]) -> None:
    """The box now serves with the backup's CA: replace the saved copy (local boxes keep one)."""
    saved = record.outputs.get("ca_cert")
    if not saved:
        return
    if not poll_until(lambda: fetch_ca(runner, Path(saved)), timeout_s=120, interval_s=2):
        raise OperationFailed("the proxy did not come back with its CA certificate")
    say(f"proxy: the restored CA certificate saved to {saved}")


def wait_until_healthy(
    record: DeploymentRecord,
    catalog: Catalog,
    runner: Box,
    *,
    wait_s: float,
    say: Callable[[str], None],
) -> CheckReport:
    """Check the box until it is healthy or wait_s passes; return the last report."""
    said = ""

    def tell(report: CheckReport) -> None:
        nonlocal said
        names = ", ".join(item.what for item in report.problems)
        if names != said:
            say(f"waiting for: {names}")
            said = names

    return poll_until(
        lambda: check_deployment(record, catalog, runner=runner),
        done=lambda report: report.healthy,
        timeout_s=wait_s,
        interval_s=POLL_S,
        on_wait=tell,
    )
