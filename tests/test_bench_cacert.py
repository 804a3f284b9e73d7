"""`bench --serve` over TLS: a real https server on loopback, verified with a throwaway CA."""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.bench import loadtest
from hybridctl.cli.app import app
from tests.record_fixtures import LOCAL_RECORD, save_test_record
from tests.ssh_fixtures import SshServer
from tests.tls_fixtures import QuietServer, make_ca, make_server_cert

runner = CliRunner()
CHUNKS = (
    {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
    {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"completion_tokens": 1},
    },
)


@dataclass
class TlsServer:
    """A streaming OpenAI-compatible stub on https://127.0.0.1:PORT and the CA that signed it."""

    url: str
    ca: Path
    other_ca: Path  # a CA that did not sign it
    completions: list[str] = field(default_factory=list)  # chat requests that got through


def _handler(server: TlsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._send(200, "application/json", json.dumps({"data": [{"id": "stub"}]}).encode())

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.completions.append(self.path)
            body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in CHUNKS)
            self._send(200, "text/event-stream", body + b"data: [DONE]\n\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the throwaway CA")
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key = make_ca(folder, "box-ca")
    other_ca, _ = make_ca(folder / "other", "other-ca")
    cert, key = make_server_cert(folder, ca, ca_key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server = TlsServer(f"https://127.0.0.1:{httpd.server_address[1]}", ca, other_ca)
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


def _bench(*args: str):
    return runner.invoke(app, ["bench", *args])


def _load(url: str, *args: str) -> list[str]:
    return ["--serve", url, "--clients", "1", "--requests", "2", "--max-tokens", "4", *args]


def test_cacert_verifies_the_box(tls_server: TlsServer) -> None:
    before = len(tls_server.completions)
    result = _bench(*_load(tls_server.url, "--cacert", str(tls_server.ca), "--json"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests_ok"] == 2 and report["verdict"]["ok"], report
    assert len(tls_server.completions) == before + 2


@pytest.mark.parametrize("which", ["none", "other"])
def test_an_untrusted_certificate_is_a_clear_error(tls_server: TlsServer, which: str) -> None:
    """No CA (the system's store) or another CA: one clear error, no request sent, never a
    fallback to an unverified connection."""
    before = len(tls_server.completions)
    extra = ["--cacert", str(tls_server.other_ca)] if which == "other" else []
    result = _bench(*_load(tls_server.url, *extra))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert f"the TLS certificate of {tls_server.url} does not verify" in result.output
    trust = f"the CA in {tls_server.other_ca}" if extra else "the system's trust store"
    assert trust in result.output
    assert "--cacert FILE" in result.output and "hybridctl outputs NAME --ca" in result.output
    assert len(tls_server.completions) == before


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.pem", "cannot be read: No such file or directory"),
        (lambda d: d, "cannot be read"),
        (lambda d: _write(d / "junk.pem", "not a certificate\n"), "holds no PEM certificate"),
        (lambda d: _write(d / "empty.pem", ""), "holds no PEM certificate"),
    ],
    ids=["missing", "directory", "junk", "empty"],
)
def test_a_bad_cacert_is_refused_before_any_request(
    tls_server: TlsServer, tmp_path: Path, make, message: str
) -> None:
    before = len(tls_server.completions)
    path = make(tmp_path)
    result = _bench(*_load(tls_server.url, "--cacert", str(path)))
    assert result.exit_code == 2, result.output
    assert f"--cacert {path} {message}" in result.output, result.output
    assert "Traceback" not in result.output
    assert len(tls_server.completions) == before


def test_cacert_needs_an_https_serve_url(tmp_path: Path) -> None:
    ca = _write(tmp_path / "ca.pem", "x")
    for args in (
        ["--tier", "1", "--cacert", str(ca)],
        _load("http://127.0.0.1:9", "--cacert", str(ca)),
    ):
        result = _bench(*args)
        assert result.exit_code == 2, result.output
        assert "--cacert verifies an https --serve URL" in result.output


def _local_deployment(name: str, ca: Path) -> None:
    outputs = {"endpoint": "https://localhost", "ca_cert": str(ca)}
    save_test_record(name, LOCAL_RECORD, outputs=outputs)


def test_serve_with_a_deployment_trusts_its_ca(tls_server: TlsServer) -> None:
    """`--serve URL --deployment NAME`: the deployment's saved CA, no --cacert needed."""
    _local_deployment("tls-box", tls_server.ca)
    args = ["--serve", tls_server.url, "--deployment", "tls-box", "--max-tokens", "4", "--json"]
    result = _bench(*args, "--clients", "3", "--requests", "3")  # tier 1 promises 3 at once
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests_ok"] == 3


def test_standalone_load_test_takes_cacert(
    tls_server: TlsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench.pyz serve` (what runs on a box) verifies with --cacert, and refuses without."""
    out = tmp_path / "serve.json"
    args = ["--url", tls_server.url, "--clients", "1", "--requests", "1", "--out", str(out)]
    assert loadtest.main([*args, "--cacert", str(tls_server.ca), "--quiet"]) == 0
    assert json.loads(out.read_text())["requests_ok"] == 1
    out.unlink()
    assert loadtest.main(args) == 1
    assert "does not verify against the system's trust store" in capsys.readouterr().err
    assert not out.exists()
    assert loadtest.main([*args, "--cacert", str(tmp_path / "nope.pem")]) == 2


def test_a_load_test_on_the_box_gets_the_ca_copied(sshd: SshServer, tls_server: TlsServer) -> None:
    """Over SSH (the "box" is this machine): the CA file travels beside the bench."""
    from hybridctl.remote.bench import run_remote_serve
    from hybridctl.remote.ssh import SshClient, SshSettings, SshTarget

    settings = SshSettings(
        known_hosts=sshd.known_hosts,
        identity_file=sshd.identity_file,
        config_file="none",
        connect_timeout_s=10,
    )
    client = SshClient(SshTarget.parse(sshd.target), settings)
    args = ["--url", tls_server.url, "--clients", "1", "--requests", "2", "--max-tokens", "4"]
    code, result = run_remote_serve(
        client, args, ca_file=tls_server.ca, remote_python=sys.executable
    )
    assert code == 0 and result["requests_ok"] == 2, result
