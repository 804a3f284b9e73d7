"""The edge of a deployment: its proxy's CA certificate (fetched, shared) and each node's .env."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hybridctl.catalog import deployments
from hybridctl.errors import OperationFailed, UsageError
from hybridctl.providers.registry import is_local
from hybridctl.remote.ssh import SshClient, as_root, tail_lines
from hybridctl.stackfacts import BUNDLE_DIR_ON_HOST, CA_FILE, CADDY_ROOT_CA

PKI_DIR = "/data/caddy/pki/authorities"
CERTS_DIR = "/data/caddy/certificates/local"
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


def _compose(remote_dir: str, project: str | None) -> str:
    named = f" -p {shlex.quote(project)}" if project else ""
    return f"docker compose --project-directory {shlex.quote(remote_dir)}{named}"


def _check_pem(text: str, where: str) -> str:
    if not text.lstrip().startswith(PEM_BEGIN) or "-----END CERTIFICATE-----" not in text:
        raise OperationFailed(
            f"the proxy on {where} returned no CA certificate",
            hint="The proxy writes it when it first starts; wait for the box to serve and retry.",
        )
    return text.strip() + "\n"


def fetch_ca(client: SshClient, dest: Path, *, remote_dir: str, project: str | None = None) -> Path:
    """Copy the proxy's root CA certificate from a box over SSH (pinned host key) to dest.

    Deploy calls this once the box serves (hybridctl.deploy.box.serving); `outputs --ca` calls it
    when the certificate is not saved yet.
    """
    command = f"{_compose(remote_dir, project)} exec -T proxy cat {CADDY_ROOT_CA}"
    done = client.run(as_root(command), timeout_s=120)
    if done.returncode != 0:
        raise OperationFailed(
            f"reading the proxy's CA certificate on {client.target} failed "
            f"(exit {done.returncode}): {tail_lines(done.stderr.decode('utf-8', 'replace'))}",
            hint="Check the stack runs there: `hybridctl status NAME`.",
        )
    pem = _check_pem(done.stdout.decode("utf-8", "replace"), str(client.target))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_text(pem)
    tmp.replace(dest)
    return dest


def share_ca(
    first: SshClient,
    others: Sequence[SshClient],
    *,
    remote_dir: str,
    project: str | None = None,
    others_dir: str | None = None,
) -> None:
    """Give every node node 0's internal CA, so one root certificate verifies all of them.

    Behind a balancer a client meets any node; each proxy would otherwise sign with its own CA.
    The CA's key passes through this machine in a 0600 temporary file, over SSH both ways.
    On each other node the certificates its own CA signed are removed and its proxy restarts.
    `others_dir` is where the bundle is on the other nodes (default: remote_dir, as deployed).
    """
    pack = f"{_compose(remote_dir, project)} exec -T proxy tar -C {PKI_DIR} -cf - local"
    done = first.run(as_root(pack), timeout_s=120)
    if done.returncode != 0 or not done.stdout:
        raise OperationFailed(
            f"reading the proxy's CA on {first.target} failed (exit {done.returncode}): "
            f"{tail_lines(done.stderr.decode('utf-8', 'replace'))}",
            hint="Check the stack runs on node 0: `hybridctl status NAME`.",
        )
    compose = _compose(others_dir or remote_dir, project)
    unpack = (
        f"{compose} exec -T proxy sh -c "
        + shlex.quote(f"rm -rf {CERTS_DIR} {PKI_DIR}/local && tar -C {PKI_DIR} -xf -")
        + f" && {compose} restart proxy"
    )
    with tempfile.TemporaryDirectory(prefix="hybridctl-ca-") as tmp:
        archive = Path(tmp) / "pki.tar"
        archive.touch(mode=0o600)
        archive.write_bytes(done.stdout)
        for client in others:
            result = client.run(as_root(unpack), stdin_path=archive, timeout_s=180)
            if result.returncode != 0:
                raise OperationFailed(
                    f"installing the shared CA on {client.target} failed "
                    f"(exit {result.returncode}): "
                    f"{tail_lines(result.stderr.decode('utf-8', 'replace'))}",
                    hint="Run the deploy again: sharing the CA is repeatable.",
                )


def ca_certificate(name: str, *, fetch: bool = True) -> Path:
    """The deployment's CA certificate file; fetched over SSH from node 0 when not saved yet."""
    record = deployments.load_record(name)
    if record.outputs.get("domain"):
        raise UsageError(
            f"{name} serves a public certificate for {record.outputs['domain']}; "
            "clients verify it with their usual trust store",
        )
    saved = record.outputs.get("ca_cert")
    path = Path(saved) if saved else deployments.deployment_dir(name) / CA_FILE
    if path.is_file():
        return path
    if is_local(record.provider) or not fetch:
        raise OperationFailed(
            f"{name} has no saved CA certificate (status: {record.status})",
            hint=f"Deploy it until it serves: hybridctl deploy ... --name {name}.",
        )
    from hybridctl.deploy.box.adapter import node_client
    from hybridctl.deploy.box.topology import node_ips

    ips = node_ips(record.outputs)
    if not ips:
        raise OperationFailed(f"{name} has no node address yet (status: {record.status})")
    return fetch_ca(node_client(record, ips[0]), path, remote_dir=BUNDLE_DIR_ON_HOST)
