"""The one load generator, as bench_serving.py's batches use it, against a loopback stub."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from hybridctl.bench import loadtest
from tests.tls_fixtures import QuietServer, make_ca, make_server_cert

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "bench_serving_load.py"
TIMINGS = {"prompt_n": 9, "prompt_ms": 12.5, "predicted_ms": 30.0}


@dataclass
class Stub:
    """What the stub server saw, and how it answers."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)  # one per chat request
    connections: set[int] = field(default_factory=set)  # client ports that sent a request
    close_after_each: bool = False
    delay_s: float = 0.0


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as llama-server and the proxy do

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            stub.seen.append(
                {
                    "body": body,
                    "host": self.headers.get("Host"),
                    "auth": self.headers.get("Authorization"),
                }
            )
            stub.connections.add(self.client_address[1])
            time.sleep(stub.delay_s)
            if body.get("stream"):
                chunks = [
                    {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
                    {"choices": [{"index": 0, "delta": {"content": "!"}}]},
                    {
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": 2, "prompt_tokens": 5},
                    },
                ]
                text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                self._send(200, "text/event-stream", text.encode())
                return
            answer = {
                "choices": [
                    {"index": 0, "message": {"content": "9 to 5"}, "finish_reason": "stop"}
                ],
                "usage": {"completion_tokens": 3, "prompt_tokens": 9},
                "timings": TIMINGS,
            }
            self._send(200, "application/json", json.dumps(answer).encode())

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-hybrid-route", "local")
            self.send_header("x-litellm-response-duration-ms", "41.5")
            if stub.close_after_each:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _serve(stub: Stub, context: ssl.SSLContext | None = None) -> Iterator[Stub]:
    httpd = QuietServer(("127.0.0.1", 0), _handler(stub))
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    scheme = "https" if context is not None else "http"
    stub.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield stub
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    yield from _serve(Stub())


def _script(script: Path, url: str, *args: str, key: str = "") -> dict[str, Any]:
    argv = [sys.executable, str(script), "--url", url, "--model", "m", "--tag", "t1", *args]
    env = {**os.environ, "BENCH_KEY": key}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=True)
    return json.loads(done.stdout)


def test_the_script_runs_a_kept_alive_batch(stub: Stub) -> None:
    result = _script(SCRIPT, stub.url, "--requests", "6", "--concurrency", "2", key="sk-1")
    assert set(result) == {"wall_s", "connect_s", "unsent", "requests"}
    assert len(result["connect_s"]) == 2 and result["unsent"] == 0
    assert len(stub.connections) == 2  # one connection per worker, kept for every request
    records = result["requests"]
    assert sorted(r["index"] for r in records) == list(range(6))
    for record in records:
        assert record["status"] == 200 and record["reconnected"] is False
        assert record["completion_tokens"] == 3 and record["prompt_tokens"] == 9
        assert record["server_ms"] == 42.5 and record["prompt_n"] == 9
        assert record["latency_s"] > 0 and "error" not in record
        assert record["headers"] == {
            "x-hybrid-route": "local",
            "x-litellm-response-duration-ms": "41.5",
        }
    prompts = {s["body"]["messages"][0]["content"] for s in stub.seen}
    assert len(prompts) == 6 and all("(request t1-" in p for p in prompts)
    assert {s["host"] for s in stub.seen} == {"localhost"}
    assert {s["auth"] for s in stub.seen} == {"Bearer sk-1"}
    body = stub.seen[0]["body"]
    assert body["stream"] is False and body["temperature"] == 0.8 and body["max_tokens"] == 32
    assert "stream_options" not in body and body["model"] == "m"


def test_the_script_runs_beside_a_copied_bench_package(stub: Stub, tmp_path: Path) -> None:
    """The load container's layout: the script and the bench package, nothing else of ours."""
    shutil.copy(SCRIPT, tmp_path / "load.py")
    shutil.copytree(
        REPO / "hybridctl" / "bench",
        tmp_path / "bench",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    argv = [
        sys.executable,
        "-E",
        "-s",
        str(tmp_path / "load.py"),
        "--url",
        stub.url,
        "--model",
        "m",
    ]
    argv += ["--tag", "x", "--requests", "2", "--concurrency", "1", "--server-name", "proxy"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["status"] for r in result["requests"]] == [200, 200]
    assert {s["host"] for s in stub.seen} == {"proxy"}
    assert {s["auth"] for s in stub.seen} == {None}


def test_a_closed_connection_is_reopened_and_counted() -> None:
    for stub in _serve(Stub(close_after_each=True)):
        settings = loadtest.LoadSettings(
            url=stub.url, clients=1, requests=3, model="m", stream=False, keep_alive=True
        )
        run = loadtest.generate(settings, loadtest.chat_completions_url(stub.url))
        assert [r.reconnected for r in run.records] == [False, True, True]
        assert all(r.ok for r in run.records) and len(stub.connections) == 3


def test_the_time_limit_leaves_requests_unsent() -> None:
    for stub in _serve(Stub(delay_s=0.3)):
        settings = loadtest.LoadSettings(
            url=stub.url, clients=1, requests=50, model="m", stream=False, keep_alive=True
        )
        settings.duration_limit_s = 0.1
        run = loadtest.generate(settings, loadtest.chat_completions_url(stub.url))
        raw = loadtest.batch_json(run)
        assert raw["unsent"] == 50 - len(raw["requests"]) and raw["unsent"] > 0
        assert run.stopped_by_deadline


def test_an_unreachable_server_is_a_status_0_record() -> None:
    for stub in _serve(Stub()):
        url = stub.url
    settings = loadtest.LoadSettings(url=url, clients=1, requests=1, model="m", stream=False)
    run = loadtest.generate(settings, loadtest.chat_completions_url(url))
    raw = loadtest.batch_json(run)["requests"][0]
    assert raw["status"] == 0 and raw["error"] and "headers" not in raw


def test_streaming_on_kept_alive_connections_keeps_the_report_unchanged(stub: Stub) -> None:
    settings = loadtest.LoadSettings(url=stub.url, clients=2, requests=4, keep_alive=True)
    settings.model = "m"
    result = loadtest.run_load(settings)
    assert result["requests_ok"] == 4 and result["generated_tokens"] == 8
    assert result["ttft_s"]["p50"] is not None
    assert len(stub.connections) == 2  # the rest of each stream was read: the connection stayed
    assert set(result["requests"][0]) == set(loadtest.BRIEF_FIELDS)
    body = stub.seen[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_server_name_is_the_tls_name_and_the_host(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the throwaway CA")
    ca, ca_key = make_ca(tmp_path, "proxy-ca")
    cert, key = make_server_cert(tmp_path, ca, ca_key, "proxy.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    for stub in _serve(Stub(), context):
        args = ["--requests", "2", "--concurrency", "1", "--cafile", str(ca)]
        result = _script(SCRIPT, stub.url, *args, "--server-name", "proxy.test")
        assert [r["status"] for r in result["requests"]] == [200, 200]
        assert {s["host"] for s in stub.seen} == {"proxy.test"}
        # The certificate names proxy.test, not the address: without the name it cannot verify.
        settings = loadtest.LoadSettings(
            url=stub.url, clients=1, requests=1, model="m", ca_file=str(ca), keep_alive=True
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            loadtest.generate(settings, loadtest.chat_completions_url(stub.url))
