"""Several nodes' edge, for real: node 0's CA shared over SSH, and each node verified by the
balancer's name (what `deploy --nodes N` checks). Proxy-only compose projects from the stand-in
Caddy image, on 127.0.0.1:12443 (this file's own port); needs Docker, Compose v2 and
$HYBRIDCTL_TEST_IMAGES, as tests/test_edge.py does.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from hybridctl.catalog import load_catalog
from tests.box_support import IMAGES_ENV, skip_unless_box_runs
from tests.ssh_fixtures import SshServer

pytestmark = pytest.mark.box

TIER = "1"


skip_unless_box_runs()


def _proxy_project(folder: Path, name: str) -> Path:
    """A compose project with the stack's proxy service alone, as on one node of a balancer."""
    import yaml

    image = yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())["proxy"]
    folder.mkdir(parents=True)
    (folder / "Caddyfile").write_text(
        "{\n\tskip_install_trust\n\tdefault_sni localhost\n}\n"
        'https://localhost {\n\ttls internal\n\trespond "node" 200\n}\n'
    )
    service: dict[str, object] = {
        "image": image,
        "volumes": ["./Caddyfile:/etc/caddy/Caddyfile:ro", "caddy-data:/data"],
    }
    compose = {"name": name, "services": {"proxy": service}, "volumes": {"caddy-data": {}}}
    (folder / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    return folder


ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"


def _in_proxy(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` run inside the project's proxy container."""
    return subprocess.run(
        ["docker", "compose", "--project-directory", str(folder), "exec", "-T", "proxy", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _root_ca(folder: Path) -> str:
    done = _in_proxy(folder, "cat", ROOT_CA)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _ca_ready(folder: Path) -> bool:
    return _in_proxy(folder, "test", "-s", ROOT_CA).returncode == 0


def test_nodes_share_node_zeros_ca_over_ssh(sshd: SshServer, tmp_path: Path) -> None:
    """Two nodes' proxies: after share_ca, node 1 serves a certificate node 0's CA verifies."""
    from hybridctl.deploy.box.edge import fetch_ca, share_ca

    first = _proxy_project(tmp_path / "node0", "mn-ca-0")
    second = _proxy_project(tmp_path / "node1", "mn-ca-1")
    projects = [first, second]
    try:
        for folder in projects:
            up = subprocess.run(
                ["docker", "compose", "--project-directory", str(folder), "up", "-d", "--wait"],
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 60
        while not all(_ca_ready(f) for f in projects):
            assert time.monotonic() < deadline, "the proxies made no CA"
            time.sleep(1)
        assert _root_ca(first) != _root_ca(second)  # each node made its own CA
        ca1 = tmp_path / "node1-own.crt"
        ca1.write_text(_root_ca(second))
        assert _verifies(second, "mn-ca-1", ca1)
        client = sshd.client(sshd.known_hosts)
        ca0 = tmp_path / "node0.crt"
        fetch_ca(client, ca0, remote_dir=str(first))
        assert not _verifies(second, "mn-ca-1", ca0)  # node 0's CA does not verify node 1 yet
        # Both "nodes" answer on this one sshd; their bundles sit in different folders.
        share_ca(client, [client], remote_dir=str(first), others_dir=str(second))
        assert _root_ca(second) == ca0.read_text()
        deadline = time.monotonic() + 60
        while not _verifies(second, "mn-ca-1", ca0):
            assert time.monotonic() < deadline, "node 1 never served with node 0's CA"
            time.sleep(1)
    finally:
        for folder in projects:
            subprocess.run(
                ["docker", "compose", "--project-directory", str(folder), "down", "--volumes"],
                capture_output=True,
                timeout=120,
            )


def _verifies(folder: Path, project: str, ca: Path) -> bool:
    """True when a client on the node's network verifies the proxy's TLS with `ca`."""
    import yaml

    image = yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())["curl"]
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            f"{project}_default",
            "-v",
            f"{ca}:/ca.pem:ro",
            "--entrypoint",
            "curl",
            image,
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            "/ca.pem",
            "--connect-to",
            "localhost:443:proxy:443",
            "https://localhost/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0 and done.stdout == "node"


@pytest.mark.parametrize("lb_name", ["lb.example.test", "198.51.100.9"])
def test_a_node_behind_a_balancer_verifies_by_the_balancers_name(
    tmp_path: Path, lb_name: str
) -> None:
    """The rendered multi-node proxy, reached by its own address on 127.0.0.1:12443, shows a
    no-SNI client the balancer's certificate; tls_ok_as (deploy's check for each node) passes
    by that name with the CA, and fails by another name or without the CA."""
    import yaml

    from hybridctl.deploy.box.nodes import tls_ok_as
    from hybridctl.render import RenderOptions
    from hybridctl.render.bundle import render_files

    images = yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())
    rendered = render_files(load_catalog(), RenderOptions(tier_id=TIER, nodes=2))
    folder = tmp_path / "mn-lbname"
    folder.mkdir()
    (folder / "Caddyfile").write_text(rendered.files["proxy/Caddyfile"])
    # The gateway stands in as a second Caddy that answers every path on 4000.
    (folder / "Gatewayfile").write_text(":4000 {\n\trespond 200\n}\n")
    compose = {
        "name": "mn-lbname",
        "services": {
            "proxy": {
                "image": images["proxy"],
                "volumes": ["./Caddyfile:/etc/caddy/Caddyfile:ro", "caddy-data:/data"],
                "environment": {"HYBRIDCTL_LB_HOST": lb_name, "PUBLIC_HOST": "198.51.100.4"},
                "ports": ["127.0.0.1:12443:443"],
            },
            "gateway": {
                "image": images["proxy"],
                "volumes": ["./Gatewayfile:/etc/caddy/Caddyfile:ro"],
            },
        },
        "volumes": {"caddy-data": {}},
    }
    (folder / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    base = ["docker", "compose", "--project-directory", str(folder)]
    url = "https://127.0.0.1:12443"
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 60
        while not _ca_ready(folder):
            assert time.monotonic() < deadline, "the proxy made no CA"
            time.sleep(1)
        ca = tmp_path / "ca.crt"
        ca.write_text(_root_ca(folder))
        while not tls_ok_as(url, lb_name, ca):
            assert time.monotonic() < deadline + 60, "the node never answered as the balancer"
            time.sleep(1)
        # A client that sends no SNI (a health check by IP) is shown the balancer's certificate.
        context = ssl.create_default_context(cafile=str(ca))
        context.check_hostname = False
        with (
            socket.create_connection(("127.0.0.1", 12443), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            names = [value for _, value in tls.getpeercert().get("subjectAltName", ())]
        assert lb_name in names
        assert not tls_ok_as(url, "other.example.test", ca)  # another name: no certificate
        assert not tls_ok_as(url, lb_name, None)  # the internal CA is not publicly trusted
    finally:
        subprocess.run([*base, "down", "--volumes"], capture_output=True, timeout=120)
