"""Hand a booted cloud box its stack over SSH, once its pinned host key answers.

The user data carries no bundle and no secret: a cloud server keeps its user data readable
through the provider's API for its whole life. The bundle and the .env reach the box here,
over SSH with strict host key checking, and the box's path unit starts the stack when the .env
lands.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.box.topology import node_env, node_ips
from hybridctl.errors import HybridctlError, OperationFailed
from hybridctl.remote.ssh import SshClient, as_root
from hybridctl.waiting import poll_until

RETRY_PAUSE_S = 5.0


def _fatal(exc: HybridctlError) -> bool:
    """A failure that waiting will not cure: a host key that does not match, or is unknown."""
    return "host key" in exc.message


def wait_for_ssh(client: SshClient, *, timeout_s: float, say: Callable[[str], None]) -> None:
    """Retry until the box accepts the login, as a booting server eventually does."""
    said = False

    def login() -> HybridctlError | None:
        try:
            client.check("true", what="the first login", timeout_s=60)
        except HybridctlError as exc:
            if _fatal(exc):
                raise
            return exc
        return None

    def tell(exc: HybridctlError | None) -> None:
        nonlocal said
        if exc is not None and not said:
            say(f"waiting for SSH on {client.target} ({exc.message})")
            said = True

    failure = poll_until(
        login,
        done=lambda exc: exc is None,
        timeout_s=timeout_s,
        interval_s=RETRY_PAUSE_S,
        on_wait=tell,
    )
    if failure is not None:
        raise failure


def wait_for_cloud_init(client: SshClient, *, timeout_s: float, say: Callable[[str], None]) -> None:
    """Wait until cloud-init has finished (packages, Docker, firewall) where it runs."""
    script = (
        # No cloud-init, or a machine it never booted: nothing to wait for.
        "command -v cloud-init >/dev/null && [ -d /var/lib/cloud/instance ] || exit 0; "
        "cloud-init status --wait >/dev/null; code=$?; "
        # 2: finished with recoverable errors (a deprecated key); the stack can still start.
        '[ "$code" = 0 ] || [ "$code" = 2 ]'
    )
    say(f"waiting for cloud-init on {client.target}")
    client.check(script, what="cloud-init", timeout_s=timeout_s)


def push_files(
    client: SshClient,
    archive: bytes,
    env: Mapping[str, str],
    *,
    remote_dir: str,
    say: Callable[[str], None],
) -> None:
    """Unpack the bundle archive (tar.xz) into remote_dir, then write its .env (0600, root)."""
    from hybridctl.render.envfile import format_env

    folder = shlex.quote(remote_dir)
    with tempfile.TemporaryDirectory(prefix="hybridctl-push-") as tmp:
        bundle = Path(tmp) / "bundle.tar.xz"
        bundle.write_bytes(archive)
        dotenv = Path(tmp) / "env"
        dotenv.touch(mode=0o600)
        dotenv.write_text(format_env(dict(env)))
        _run(client, f"mkdir -p {folder} && tar -xJf - -C {folder} --no-same-owner", bundle)
        say(f"bundle unpacked in {remote_dir} on {client.target}")
        _run(
            client,
            f"umask 077 && cat > {folder}/.env.new && chown root:root {folder}/.env.new "
            f"&& mv {folder}/.env.new {folder}/.env",
            dotenv,
        )
        say(f".env written to {remote_dir}/.env (0600, root); the stack starts")
        # The host must match the tier before the stack (re)starts: the NVIDIA driver and
        # container toolkit for a GPU tier, none for a CPU one.
        # A GPU driver and the container toolkit install in minutes, not seconds.
        _run(client, f"[ ! -x {folder}/host/gpu.sh ] || {folder}/host/gpu.sh", None, timeout_s=2400)
        # A first boot starts the stack from the path unit when .env appears; on an update the
        # stack already runs, so apply the new bundle: compose pulls new images, models-init
        # fetches new models, and every container is recreated (compose does not notice a
        # changed file a service mounts, such as models.ini; volumes are kept).
        _run(
            client,
            "command -v systemctl >/dev/null && systemctl is-active --quiet "
            f"hybridctl-stack.service || exit 0; cd {folder} && "
            "docker compose pull --quiet --ignore-buildable && "
            "docker compose up -d --force-recreate --remove-orphans",
            None,
        )


def _run(client: SshClient, script: str, stdin: Path | None, *, timeout_s: float = 600) -> None:
    completed = client.run(as_root(script), stdin_path=stdin, timeout_s=timeout_s)
    if completed.returncode != 0:
        detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise OperationFailed(
            f"copying the stack to {client.target} failed (exit {completed.returncode}): "
            + " | ".join(detail),
            hint="Log in with the deployment's SSH command and check the disk and sudo.",
        )


def deliver_stack(
    record: DeploymentRecord,
    archive: bytes,
    env: Mapping[str, str],
    *,
    say: Callable[[str], None],
    ssh_wait_s: float = 900,
    cloud_init_wait_s: float = 1800,
) -> None:
    """Copy the bundle and .env to every node of a deployment, checking its pinned host key;
    each node's .env gets its own entries (hybridctl.deploy.box.topology.node_env)."""
    from hybridctl.deploy.box.adapter import node_client
    from hybridctl.stackfacts import BUNDLE_DIR_ON_HOST

    for index, ip in enumerate(node_ips(record.outputs)):
        client = node_client(record, ip)
        wait_for_ssh(client, timeout_s=ssh_wait_s, say=say)
        wait_for_cloud_init(client, timeout_s=cloud_init_wait_s, say=say)
        # Behind a balancer: its name for the proxy; node 0's Redis for every node's gateway.
        node = {**env, **node_env(record.outputs, index)}
        push_files(client, archive, node, remote_dir=BUNDLE_DIR_ON_HOST, say=say)
