"""Helpers for the render tests: the shipped catalog, SSH keys, and a range-capable HTTP server."""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hybridctl.catalog import load_catalog
from hybridctl.catalog.schema import Catalog
from hybridctl.render import RenderOptions, render_bundle
from hybridctl.render.bundle import RenderResult

ADMIN_CIDR = "203.0.113.7/32"
# A fixed, syntactically valid admin key, so goldens do not depend on ssh-keygen's output.
ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlbmRlci10ZXN0LWtleS1ub3QtYS1yZWFsLW9uZQ admin@test"
)
SECRET_ENV = {
    "OPENAI_API_KEY": "sk-test-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef",
    "GROQ_API_KEY": "gsk_test_0123456789abcdef",
}


@functools.cache
def catalog() -> Catalog:
    return load_catalog()


def tier_ids() -> list[str]:
    return catalog().tier_ids


def options(tier_id: str, **extra: object) -> RenderOptions:
    values: dict[str, object] = {
        "tier_id": tier_id,
        "admin_cidr": ADMIN_CIDR,
        "ssh_public_key": ADMIN_KEY,
    }
    values.update(extra)
    return RenderOptions(**values)  # type: ignore[arg-type]


def render(out: Path, tier_id: str, *, force: bool = False, environ=None, **extra) -> RenderResult:
    return render_bundle(
        catalog(), options(tier_id, **extra), out, force=force, environ=environ or {}
    )


def bundle_texts(bundle: Path) -> dict[str, bytes]:
    """Every file of a bundle (relative path -> bytes), .env excluded."""
    return {
        p.relative_to(bundle).as_posix(): p.read_bytes()
        for p in sorted(bundle.rglob("*"))
        if p.is_file() and p.name != ".env"
    }


def ed25519(directory: Path, name: str) -> tuple[str, str]:
    """A real ed25519 key pair from ssh-keygen: (private OpenSSH text, public line)."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_text(), path.with_suffix(".pub").read_text().strip()


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files from `root` with HTTP Range support (what curl -C - needs); counts requests."""

    root: Path
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.requests.append(f"{self.path} {self.headers.get('Range', '')}".strip())
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        start = int(match.group(1)) if match else 0
        if start >= len(data) and match:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.end_headers()
            return
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data[start:])


@contextmanager
def range_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server over root: yields (base URL, log of requests)."""
    requests: list[str] = []
    handler = type("Handler", (_RangeHandler,), {"root": root, "requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
