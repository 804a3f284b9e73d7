"""A cloud box over SSH after Pulumi: rotate its host key, wait until it serves, roll back."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.box import hostkeys
from hybridctl.deploy.box.adapter import RemoteBox, node_client
from hybridctl.deploy.box.edge import share_ca
from hybridctl.deploy.box.nodes import Node, serve_nodes
from hybridctl.deploy.box.push import wait_for_cloud_init, wait_for_ssh
from hybridctl.deploy.box.rotation import RotationPlan, rotate_host_key
from hybridctl.deploy.box.topology import balancer_host, node_ips
from hybridctl.deploy.box.verify import verify_box
from hybridctl.errors import CheckFailed, OperationFailed
from hybridctl.remote.ssh import SshClient, as_root
from hybridctl.stackfacts import BUNDLE_DIR_ON_HOST, CA_FILE, GATEWAY_HEALTH_PATH, ON_BOX_PROJECT

PREVIOUS_SUFFIX = ".prev"
FAILED_SUFFIX = ".failed"
Say = Callable[[str], None]


def known_hosts_name(host: str, port: int | None) -> str:
    """How OpenSSH names a host in known_hosts: host, or [host]:port off port 22."""
    return host if port in (None, 22) else f"[{host}]:{port}"


@dataclass
class SshBox:
    """The SSH side of a cloud deployment. The port, identity, URL and folders can be changed
    for tests (a loopback sshd in front of a local box)."""

    port: int | None = None
    identity_file: Path | None = None
    config_file: str | None = None
    base_url: Callable[[DeploymentRecord, str], str] = lambda record, ip: f"https://{ip}"
    bundle_dir: str = ""
    project: str | None = None  # compose project name; None: the bundle's own (`hybridctl`)
    rotation: RotationPlan = field(default_factory=RotationPlan)

    def __post_init__(self) -> None:
        if not self.bundle_dir:
            self.bundle_dir = BUNDLE_DIR_ON_HOST

    def connect(self, record: DeploymentRecord, ip: str) -> SshClient:
        """A client for one node, checking the deployment's pinned host keys only."""
        return node_client(
            record,
            ip,
            port=self.port,
            identity_file=self.identity_file,
            config_file=self.config_file,
        )

    def pin(self, record: DeploymentRecord) -> None:
        """Rewrite the deployment's known_hosts from its record (rotated keys win)."""
        ips = node_ips(record.outputs)
        rotated = {
            known_hosts_name(ip, self.port): key for ip, key in record.rotated_host_keys.items()
        }
        fresh = [known_hosts_name(ip, self.port) for ip in ips]
        hostkeys.write_pinned_hosts(
            Path(record.known_hosts), record.name, record.host_key_public, fresh, rotated
        )

    def _compose(self, client: SshClient) -> RemoteBox:
        return RemoteBox(client, directory=self.bundle_dir, project=self.project)

    def rotate(self, record: DeploymentRecord, *, say: Say) -> DeploymentRecord:
        """Give every node that still has the user data's host key a key of its own, pinning
        each as soon as the box presents it."""
        for ip in node_ips(record.outputs):
            if ip in record.rotated_host_keys:
                continue
            client = self.connect(record, ip)
            wait_for_ssh(client, timeout_s=900, say=say)
            name = known_hosts_name(ip, self.port)
            new = rotate_host_key(client, [name], say=say, plan=self.rotation)
            record = record.model_copy(
                update={"rotated_host_keys": {**record.rotated_host_keys, ip: new}}
            )
            self.pin(record)
            deployments.save_record(record)
        return record

    def wait_serving(
        self, record: DeploymentRecord, models: Sequence[str], *, timeout_s: float, say: Say
    ) -> DeploymentRecord:
        """Follow cloud-init, then the stack, until every node serves its tier through the
        proxy with TLS verified against the box's own CA; CheckFailed (exit 1) with the last
        lines of the failing service's log when one does not in time."""
        name = record.outputs.get("domain") or balancer_host(record.outputs)
        if name:
            return self._wait_named(record, str(name), models, timeout_s=timeout_s, say=say)
        deadline = time.monotonic() + timeout_s
        for ip in node_ips(record.outputs):
            client = self.connect(record, ip)
            wait_for_cloud_init(client, timeout_s=max(60.0, deadline - time.monotonic()), say=say)
            ca_file = deployments.deployment_dir(record.name) / CA_FILE
            url = self.base_url(record, ip)
            say(f"waiting for the stack on {client.target} to serve at {url}")
            problem = verify_box(
                self._compose(client),
                url,
                ca_file,
                models,
                timeout_s=max(30.0, deadline - time.monotonic()),
                say=say,
            )
            if problem is not None:
                raise CheckFailed(
                    f"{record.name}: {client.target} does not serve after {timeout_s:.0f} s: "
                    + problem,
                    hint=f"`hybridctl status {record.name}` shows each service; deploy again "
                    f"to retry, or `hybridctl destroy {record.name}`.",
                )
        return served(record)

    def _wait_named(
        self,
        record: DeploymentRecord,
        server_name: str,
        models: Sequence[str],
        *,
        timeout_s: float,
        say: Say,
    ) -> DeploymentRecord:
        """The serving wait of a deployment clients reach by a name (its balancer, or its
        --domain): one CA for every node (node 0's, shared over SSH), each node verified by
        that name."""
        deadline = time.monotonic() + timeout_s
        ips = node_ips(record.outputs)
        clients = [self.connect(record, ip) for ip in ips]
        for client in clients:
            wait_for_cloud_init(client, timeout_s=max(60.0, deadline - time.monotonic()), say=say)
        internal = not record.outputs.get("domain")
        ca_file = deployments.deployment_dir(record.name) / CA_FILE if internal else None
        nodes = [
            Node(str(client.target), self._compose(client), self.base_url(record, ip))
            for client, ip in zip(clients, ips, strict=True)
        ]

        def share() -> None:
            share_ca(clients[0], clients[1:], remote_dir=self.bundle_dir, project=self.project)

        problem = serve_nodes(
            nodes,
            server_name,
            ca_file,
            models,
            share=share,
            timeout_s=max(30.0, deadline - time.monotonic()),
            say=say,
        )
        if problem is not None:
            raise CheckFailed(
                f"{record.name} does not serve as {server_name} after {timeout_s:.0f} s: "
                + problem,
                hint=f"`hybridctl status {record.name}` shows each service; deploy again "
                f"to retry (sharing the CA is repeatable), or `hybridctl destroy {record.name}`.",
            )
        return served(record)

    def runner(self, record: DeploymentRecord, ip: str) -> RemoteBox:
        """The box runner (backup, check, keys) for one node over this box's SSH settings."""
        project = self.project or ON_BOX_PROJECT
        return RemoteBox(
            self.connect(record, ip),
            directory=self.bundle_dir,
            project=project,
            project_directory=True,
        )

    def rollback(
        self, record: DeploymentRecord, models: Sequence[str], *, timeout_s: float, say: Say
    ) -> str | None:
        """Put the kept bundle back on every node, restart, verify; None when all serve."""
        folder = shlex.quote(self.bundle_dir)
        compose = "docker compose" + (f" -p {shlex.quote(self.project)}" if self.project else "")
        restore = (
            f"[ -d {folder}{PREVIOUS_SUFFIX} ] && rm -rf {folder}{FAILED_SUFFIX} && "
            f"mv {folder} {folder}{FAILED_SUFFIX} && cp -a {folder}{PREVIOUS_SUFFIX} {folder} && "
            f"cd {folder} && {compose} down --remove-orphans --timeout 20 && "
            f"{compose} up -d --remove-orphans"
        )
        for ip in node_ips(record.outputs):
            client = self.connect(record, ip)
            try:
                client.check(as_root(restore), what="restoring the previous bundle", timeout_s=1800)
            except OperationFailed as exc:
                return exc.message
            say(
                f"previous bundle restored on {client.target}; the failed one is in "
                f"{self.bundle_dir}{FAILED_SUFFIX}"
            )
        try:
            self.wait_serving(record, models, timeout_s=timeout_s, say=say)
        except CheckFailed as exc:
            return exc.message.splitlines()[0]
        return None


def served(record: DeploymentRecord) -> DeploymentRecord:
    """The record with what a client needs: the endpoint, the CA to verify it, a request."""
    from hybridctl.deploy.compose.local import curl_example
    from hybridctl.render.envfile import ENV_FILE

    folder = deployments.deployment_dir(record.name)
    ips = node_ips(record.outputs)
    host = record.outputs.get("load_balancer_ip") or (ips[0] if ips else None)
    if host is None:
        return record
    endpoint = str(record.outputs.get("gateway_url") or f"https://{host}")
    ca_file = folder / CA_FILE
    extra = {
        "endpoint": endpoint,
        "ca_cert": str(ca_file),
        "verify_tls": f"curl --cacert {ca_file} {endpoint}{GATEWAY_HEALTH_PATH}",
        "curl": curl_example(endpoint, ca_file, folder / ENV_FILE),
    }
    done = record.model_copy(update={"outputs": {**record.outputs, **extra}})
    deployments.save_record(done)
    return done
