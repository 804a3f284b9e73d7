"""The box's edge, for real: TLS clients verify with the exported CA, any Host is served, the
health path follows the gateway, admin surfaces are closed, and the CA comes back over SSH.

One local box (tier 1, generated models) under Docker Compose on 127.0.0.1:9443/9080, named
edge-box, so it never meets the other box tests' ports or names. Needs what tests/test_box.py
needs (Docker, Compose v2, the stand-in images in $HYBRIDCTL_TEST_IMAGES).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.errors import HybridctlError
from tests.box_support import IMAGES_ENV, master_key, run_cli, skip_unless_box_runs
from tests.ssh_fixtures import SshServer, missing_reason, start_sshd, stop_sshd

pytestmark = pytest.mark.box

NAME = "edge-box"
TIER = "1"
HTTPS_PORT = 9443
HTTP_PORT = 9080
# LiteLLM routes that must never be reachable through the proxy, with or without a key.
ADMIN_PATHS = [
    "/",
    "/ui/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/routes",
    "/metrics",
    "/health",
    "/health/readiness",
    "/model/info",
    "/v1/model/info",
    "/key/generate",
    "/key/info",
    "/user/info",
    "/config/yaml",
    "/global/spend",
    "/grafana/",
]


skip_unless_box_runs()


@dataclass
class Box:
    env: dict[str, str]
    outputs: dict[str, str]

    @property
    def ca(self) -> Path:
        return Path(self.outputs["ca_cert"])

    @property
    def bundle(self) -> Path:
        return Path(self.outputs["bundle"])

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, check=check)

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", NAME, "--project-directory", str(self.bundle), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    def master_key(self) -> str:
        return master_key(self.bundle)


def get(
    path: str,
    *,
    ca: Path | None,
    server_name: str = "127.0.0.1",
    host: str | None = None,
    key: str | None = None,
) -> tuple[int, bytes]:
    """GET over TLS to 127.0.0.1:HTTPS_PORT, verifying the certificate for `server_name`
    against `ca` (the system store when None); `host` is the Host header (default the name)."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    connection = http.client.HTTPSConnection(server_name, HTTPS_PORT, timeout=60, context=context)
    # Dial loopback whatever name is verified: the name stands for a balancer's or a box's.
    connection.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=60),
        server_hostname=server_name,
    )
    headers = {"Host": host or server_name}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    from hybridctl.testing.modelgen import write_tiny_model

    tmp = tmp_path_factory.mktemp(NAME)
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "HOME": str(tmp / "home"),
        "HYBRIDCTL_STATE_DIR": str(tmp / "state"),
        "HYBRIDCTL_IMAGES": os.environ[IMAGES_ENV],
        "COLUMNS": "200",
    }
    models = load_catalog().tier(TIER).models
    seeds = [
        arg
        for i, entry in enumerate(models)
        for arg in (
            "--model-file",
            f"{entry.model}={write_tiny_model(tmp / f'{entry.model}.gguf', seed=i)}",
        )
    ]
    deployed = Box(env, {})
    done = deployed.cli(
        "deploy",
        "--provider",
        "local",
        "--tier",
        TIER,
        "--name",
        NAME,
        "--https-port",
        str(HTTPS_PORT),
        "--http-port",
        str(HTTP_PORT),
        *seeds,
        "--allow-unverified",  # generated models: their sha256 is not the catalog's
        check=False,
    )
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        deployed.outputs = json.loads(deployed.cli("outputs", NAME, "--json").stdout)
        yield deployed
    finally:
        deployed.cli("destroy", NAME, "--yes", check=False)


def test_a_client_verifies_tls_with_the_exported_ca(box: Box, tmp_path: Path) -> None:
    printed = box.cli("outputs", NAME, "--ca").stdout
    assert printed.startswith("-----BEGIN CERTIFICATE-----")
    assert printed == box.ca.read_text()
    exported = tmp_path / "ca.pem"
    exported.write_text(printed)
    status, body = get("/health/liveliness", ca=exported, server_name="localhost")
    assert status == 200 and b"alive" in body.lower()
    # The same certificate is not trusted without the exported CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        get("/health/liveliness", ca=None, server_name="localhost")


def test_the_box_is_served_by_ip_without_sni(box: Box) -> None:
    status, body = get("/health/liveliness", ca=box.ca, server_name="127.0.0.1")
    assert status == 200 and b"alive" in body.lower()


@pytest.mark.parametrize(
    "host", ["lb-1234.elb.eu-central-1.example", "10.42.0.11", "10.42.0.11:443"]
)
def test_any_host_name_or_address_is_served(box: Box, host: str) -> None:
    """As behind a balancer: its name, or the node's private IP its health checks use."""
    status, body = get("/health/liveliness", ca=box.ca, host=host)
    assert status == 200 and b"alive" in body.lower()
    status, body = get("/v1/models", ca=box.ca, host=host, key=box.master_key())
    assert status == 200 and json.loads(body)["data"]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_admin_paths_answer_404_through_the_proxy(box: Box, path: str) -> None:
    for key in (None, box.master_key()):
        for host in ("localhost", "10.42.0.11"):
            status, _ = get(path, ca=box.ca, server_name="localhost", host=host, key=key)
            assert status == 404, (path, host, key is not None)


def test_the_openai_api_passes_the_proxy(box: Box) -> None:
    status, body = get("/v1/models", ca=box.ca, key=box.master_key())
    assert status == 200 and json.loads(body)["data"]
    assert get("/models", ca=box.ca, key=box.master_key())[0] == 200


def test_a_dead_gateway_fails_the_health_path(box: Box) -> None:
    """What a balancer's health check sees: 2xx while the gateway lives, 502 once it is dead."""
    assert box.compose("stop", "gateway").returncode == 0
    try:
        for host in ("127.0.0.1", "10.42.0.11"):
            status, _ = get("/health/liveliness", ca=box.ca, host=host)
            assert status == 502, host
    finally:
        assert box.compose("start", "gateway").returncode == 0
    deadline = time.monotonic() + 180
    while get("/health/liveliness", ca=box.ca, host="10.42.0.11")[0] != 200:
        assert time.monotonic() < deadline, box.compose("logs", "--tail", "30", "gateway").stdout
        time.sleep(3)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_sshd(tmp_path_factory.mktemp("edge-sshd"))
    yield server
    stop_sshd(server)


def test_the_ca_is_fetched_over_ssh_with_the_pinned_host_key(
    box: Box, sshd: SshServer, tmp_path: Path
) -> None:
    """fetch_ca as deploy runs it for a cloud box: over real SSH, from the running proxy."""
    from hybridctl.deploy.box.edge import fetch_ca

    dest = tmp_path / "fetched" / "ca.crt"
    client = sshd.client(sshd.known_hosts)
    fetch_ca(client, dest, remote_dir=str(box.bundle), project=NAME)
    assert dest.read_text() == box.ca.read_text()
    assert get("/health/liveliness", ca=dest)[0] == 200
    # A host whose key is not the pinned one gets nothing.
    other = tmp_path / "other.crt"
    with pytest.raises(HybridctlError, match="host key"):
        fetch_ca(sshd.client(sshd.wrong_known_hosts), other, remote_dir=str(box.bundle))
    assert not other.exists()


UPSTREAM = (
    "import http.server as h\n"
    "class A(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'grafana')\n"
    "h.ThreadingHTTPServer(('0.0.0.0', 3000), A).serve_forever()\n"
)


def test_grafana_answers_only_the_admin_network(tmp_path: Path) -> None:
    """The rendered proxy in front of a stand-in Grafana: the admin CIDR gets it, others 404."""
    import yaml

    from hybridctl.render import RenderOptions
    from hybridctl.render.bundle import render_files

    images = yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())
    network = "edge-gf-net"
    names = ["edge-gf-grafana", "edge-gf-proxy"]

    def docker(*args: str) -> str:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def fetch(path: str) -> str:
        done = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                network,
                "--entrypoint",
                "curl",
                images["curl"],
                "-sk",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--connect-to",
                "localhost:443:proxy:443",
                f"https://localhost{path}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    subprocess.run(["docker", "network", "rm", network], capture_output=True)
    docker("network", "create", network)
    try:
        subnet = docker("network", "inspect", network, "-f", "{{(index .IPAM.Config 0).Subnet}}")
        docker(
            "run",
            "-d",
            "--name",
            names[0],
            "--network",
            network,
            "--network-alias",
            "grafana",
            "--entrypoint",
            "python3",
            images["gateway"],
            "-c",
            UPSTREAM,
        )
        for cidr, expected in ((subnet, "200"), ("203.0.113.7/32", "404")):
            options = RenderOptions(tier_id="4", provider="hetzner", admin_cidr=cidr)
            caddyfile = render_files(load_catalog(), options).files["proxy/Caddyfile"]
            folder = tmp_path / cidr.replace("/", "_")
            folder.mkdir()
            (folder / "Caddyfile").write_text(caddyfile)
            subprocess.run(["docker", "rm", "-f", names[1]], capture_output=True)
            docker(
                "run",
                "-d",
                "--name",
                names[1],
                "--network",
                network,
                "--network-alias",
                "proxy",
                "-v",
                f"{folder}:/etc/caddy:ro",
                images["proxy"],
            )
            deadline = time.monotonic() + 60
            while (got := fetch("/grafana/")) == "000":
                assert time.monotonic() < deadline, docker("logs", names[1])
                time.sleep(1)
            assert got == expected, (cidr, got)
            assert fetch("/grafana") == expected
            assert fetch("/ui/") == "404"
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
