"""Where a bench runs: here, or on a box over SSH (--host, --deployment), host key verified."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError, UsageError
from hybridctl.paths import not_a_file


def check_where(local: bool, host: str | None, deployment: str | None) -> None:
    """Refuse more than one of --local, --host, --deployment."""
    where = [
        flag
        for flag, given in (("--local", local), ("--host", host), ("--deployment", deployment))
        if given
    ]
    if len(where) > 1:
        raise UsageError(f"choose one of --local, --host, --deployment (got {' and '.join(where)})")


def check_writable(catalog: Path | None) -> None:
    """Refuse --update-catalog on a catalog that cannot be written, before the bench runs."""
    from hybridctl.catalog.measurements import check_catalog_writable
    from hybridctl.paths import default_catalog_path

    check_catalog_writable(catalog or default_catalog_path())


def require_extra_here(ssh: Any, serve: str | None) -> None:
    """A bench on this machine (not --serve, not over SSH) needs the [bench] extra: refuse
    before any work when it is missing, with the install command (exit 2)."""
    from hybridctl.extras import require_extra

    if ssh is None and not serve:
        require_extra("bench")


def needs_deployment_tier(tier: str | None, serve: str | None, model: list[str] | None) -> bool:
    """Whether a --deployment bench with no --tier takes its tier from the deployment."""
    return bool(not tier and (serve or not model or any("=" in m for m in model)))


def ssh_client(
    host: str | None,
    deployment: str | None,
    known_hosts: Path | None,
    accept_new: bool,
    identity: Path | None,
    ssh_config: str | None,
    connect_timeout: int,
    progress: Callable[[str], None],
) -> Any:
    """The SSH client for --host / --deployment, or None to run here."""
    if not host and not deployment:
        if known_hosts or accept_new or identity:
            raise UsageError(
                "--known-hosts, --accept-new-host-key and --identity need --host or --deployment"
            )
        return None
    from hybridctl.remote.bench import SshClient, SshSettings, SshTarget, resolve_known_hosts

    alias = None
    deployment_file = None
    if deployment:
        found = _deployment_target(deployment)
        if found is None:
            return None  # the box runs on this machine: bench its models here
        target, deployment_file, alias = found
    else:
        assert host is not None
        target = SshTarget.parse(host)
    problem = not_a_file(identity) if identity is not None else None
    if problem:
        raise InputError(f"--identity {identity} {problem}")
    if connect_timeout < 1:
        raise UsageError("--connect-timeout must be at least 1 second")
    path = resolve_known_hosts(known_hosts, deployment_file, accept_new)
    if accept_new:
        progress(
            f"note: --accept-new-host-key: a host key not yet in {path} will be trusted on first "
            "contact and pinned there (StrictHostKeyChecking=accept-new); a changed key is still "
            "refused"
        )
    settings = SshSettings(
        known_hosts=path,
        accept_new_host_key=accept_new,
        identity_file=identity,
        host_key_alias=alias if known_hosts is None else None,
        config_file=ssh_config,
        connect_timeout_s=connect_timeout,
    )
    return SshClient(target, settings)


def _deployment_target(deployment: str) -> tuple[Any, Path, str] | None:
    """A deployment's SSH target, its known_hosts file and host-key alias; None if local."""
    from hybridctl.catalog.deployments import known_hosts_path, load_record
    from hybridctl.deploy.box.hostkeys import host_alias
    from hybridctl.providers.registry import is_local
    from hybridctl.remote.bench import SshTarget

    record = load_record(deployment)
    if is_local(record.provider):
        return None
    ip = record.outputs.get("ip")
    if not ip:
        raise InputError(
            f"deployment {deployment!r} has no IP address yet (status: {record.status})",
            hint=f"Check it with `hybridctl status {deployment}`.",
        )
    target = SshTarget(host=str(ip), user=str(record.outputs.get("ssh_user") or "root"))
    return target, known_hosts_path(deployment), host_alias(deployment)
