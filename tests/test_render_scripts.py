"""The rendered first-boot scripts, run for real: resumable, checksum-verified model download."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from hybridctl.render.context import RenderContext, build_context
from hybridctl.render.engine import make_environment, render_template
from tests.render_fixtures import catalog, options, range_server


def _context_with_uri(url: str, sha256: str | None) -> RenderContext:
    ctx = build_context(catalog(), catalog().tier("1"), options("1"))
    model = ctx.models[0].model_copy(update={"uri": url, "sha256": sha256})
    return ctx.model_copy(update={"models": [model]})


def _run(script: Path, models_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MODELS_DIR": str(models_dir), "FETCH_PAUSE_S": "0", **env}
    return subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, env=environment, timeout=120
    )


@pytest.fixture
def served(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    payload = os.urandom(300_000)
    (root / "model.gguf").write_bytes(payload)
    with range_server(root) as (base, requests):
        yield base + "/model.gguf", payload, requests


def _write_script(tmp_path: Path, url: str, sha256: str | None) -> Path:
    text = render_template(
        make_environment(), "models/fetch-models.sh.j2", _context_with_uri(url, sha256)
    )
    script = tmp_path / "fetch-models.sh"
    script.write_text(text)
    return script


def test_download_resumes_verifies_and_runs_once(tmp_path: Path, served) -> None:
    url, payload, requests = served
    script = _write_script(tmp_path, url, hashlib.sha256(payload).hexdigest())
    models = tmp_path / "models"
    models.mkdir()
    name = build_context(catalog(), catalog().tier("1"), options("1")).models[0].filename
    (models / f"{name}.part").write_bytes(payload[:100_000])  # an interrupted earlier download

    first = _run(script, models)
    assert first.returncode == 0, first.stderr
    assert (models / name).read_bytes() == payload
    assert not (models / f"{name}.part").exists()
    assert requests == ["/model.gguf bytes=100000-"]  # resumed, not restarted
    assert "sha256 ok" in first.stdout

    second = _run(script, models)
    assert second.returncode == 0
    assert "already present" in second.stdout
    assert len(requests) == 1  # nothing fetched again


def test_checksum_mismatch_fails_and_deletes_the_download(tmp_path: Path, served) -> None:
    url, _payload, _ = served
    script = _write_script(tmp_path, url, "0" * 64)
    models = tmp_path / "models"
    result = _run(script, models)
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stderr
    assert list(models.iterdir()) == []


def test_a_model_without_checksum_is_fetched_with_a_warning(tmp_path: Path, served) -> None:
    url, payload, _ = served
    script = _write_script(tmp_path, url, None)
    models = tmp_path / "models"
    result = _run(script, models)
    assert result.returncode == 0, result.stderr
    assert "not verified" in result.stderr
    assert sum(p.stat().st_size for p in models.iterdir()) == len(payload)


def test_a_host_that_does_not_resolve_fails_fast_with_curls_words(tmp_path: Path) -> None:
    script = _write_script(tmp_path, "https://models.invalid/tiny.gguf", None)
    started = time.monotonic()
    result = _run(script, tmp_path / "models", FETCH_PAUSE_S="1")
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    last = result.stderr.strip().splitlines()[-1]
    assert "download failed after 2 attempt(s)" in last, result.stderr
    assert "Could not resolve host: models.invalid" in last, result.stderr
    assert "https://models.invalid/tiny.gguf" in last


def test_an_http_error_is_tried_twice_and_reported(tmp_path: Path, served) -> None:
    url, _payload, requests = served
    script = _write_script(tmp_path, url.replace("model.gguf", "gone.gguf"), None)
    result = _run(script, tmp_path / "models")
    assert result.returncode != 0
    assert requests == ["/gone.gguf", "/gone.gguf"]
    assert "404" in result.stderr.strip().splitlines()[-1], result.stderr


def test_an_interrupted_download_resumes_while_it_makes_progress(tmp_path: Path) -> None:
    payload = os.urandom(400_000)
    ranges: list[str] = []

    class Dropping(http.server.BaseHTTPRequestHandler):
        """Sends at most 100 kB per request, then drops the connection."""

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked = self.headers.get("Range", "")
            ranges.append(asked)
            start = int(asked.removeprefix("bytes=").rstrip("-") or 0)
            self.send_response(206 if asked else 200)
            if asked:
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}"
                )
            self.send_header("Content-Length", str(len(payload) - start))
            self.end_headers()
            self.wfile.write(payload[start : start + 100_000])
            self.wfile.flush()
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dropping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/model.gguf"
        script = _write_script(tmp_path, url, hashlib.sha256(payload).hexdigest())
        result = _run(script, tmp_path / "models")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert ranges == ["", "bytes=100000-", "bytes=200000-", "bytes=300000-"]
    assert result.stderr.count("retrying") == 3
    assert "sha256 ok" in result.stdout


def test_warm_script_sends_one_request_per_model(tmp_path: Path) -> None:
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, **json.loads(body)})
            reply = b'{"choices": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx = build_context(catalog(), catalog().tier("2"), options("2"))
        script = tmp_path / "warm.sh"
        script.write_text(render_template(make_environment(), "models/warm-models.sh.j2", ctx))
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = subprocess.run(
            ["sh", str(script)],
            capture_output=True,
            text=True,
            env={**os.environ, "LLM_URL": url, "WARM_TRIES": "2", "WARM_PAUSE_S": "0"},
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert [r["model"] for r in received] == [m.name for m in ctx.models]
    assert all(r["path"] == "/v1/chat/completions" and r["max_tokens"] == 1 for r in received)
