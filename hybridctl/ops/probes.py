"""Read a box's live figures through a runner: services, models, memory, disk, spend, TLS."""

from __future__ import annotations

import json
import re
import shlex
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridctl.deploy.box.adapter import Box
from hybridctl.deploy.compose.compose import ServiceState, parse_ps
from hybridctl.stackfacts import CADDY_ROOT_CA

_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_UNITS.update({"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12})


@dataclass(frozen=True)
class Container:
    service: str
    id: str
    state: ServiceState


def containers(runner: Box) -> list[Container]:
    """Every container of the project (stopped ones too), with its service's state."""
    done = runner.compose("ps", "--all", "--format", "json", timeout=60)
    if done.returncode != 0:
        return []
    rows = _json_rows(done.text)
    states = {s.service: s for s in parse_ps(done.text)}
    return [
        Container(str(r.get("Service")), str(r.get("ID", "")), states[str(r.get("Service"))])
        for r in rows
        if str(r.get("Service")) in states
    ]


def declared_services(runner: Box) -> list[str]:
    """The services the box's compose file declares."""
    done = runner.compose("config", "--services", timeout=60)
    return [line.strip() for line in done.text.splitlines() if line.strip()]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _json_rows(text: str) -> list[dict[str, Any]]:
    text = text.strip()
    if not text:
        return []
    try:
        lines = [text] if text.startswith("[") else text.splitlines()
        rows = [row for line in lines for row in _as_list(json.loads(line))]
    except ValueError:  # not compose's JSON (an old compose, a warning line): no rows read
        return []
    return [row for row in rows if isinstance(row, dict)]


def served_models(runner: Box, port: int, path: str) -> dict[str, str] | str:
    """The model server's model list as {id: status}, or why it could not be read."""
    url = f"http://127.0.0.1:{port}{path}"
    done = runner.compose("exec", "-T", "llm", "curl", "-fsS", "--max-time", "10", url, timeout=60)
    if done.returncode != 0:
        said = (done.error_text or done.text).strip().splitlines()
        return said[-1] if said else "no answer"
    try:
        data = json.loads(done.text).get("data") or []
    except ValueError:
        return "the model server's /models did not answer JSON"
    out: dict[str, str] = {}
    for row in data:
        status = row.get("status")
        value = status.get("value") if isinstance(status, dict) else None
        out[str(row.get("id"))] = str(value or "listed")
    return out


def parse_size(text: str) -> int:
    """'326.8MiB' or '2.05GiB' or '6.67kB' as bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", text)
    if not match:
        return 0
    return int(float(match.group(1)) * _UNITS.get(match.group(2).lower(), 1))


def memory_use(runner: Box, found: list[Container]) -> dict[str, tuple[int, int]]:
    """Each running service's memory (used, limit) in bytes, from `docker stats`."""
    running = {c.id: c.service for c in found if c.state.state == "running" and c.id}
    if not running:
        return {}
    ids = " ".join(shlex.quote(i) for i in running)
    done = runner.shell(f"docker stats --no-stream --format '{{{{json .}}}}' {ids}", timeout=90)
    out: dict[str, tuple[int, int]] = {}
    for row in _json_rows(done.text) if done.returncode == 0 else []:
        short = str(row.get("ID", ""))[:12]
        service = next((s for i, s in running.items() if i.startswith(short)), None)
        used, _, limit = str(row.get("MemUsage", "")).partition("/")
        if service:
            out[service] = (parse_size(used), parse_size(limit))
    return out


def disk_use(runner: Box) -> tuple[int, int] | None:
    """(used, size) in bytes of the filesystem holding Docker's data (volumes, images)."""
    script = "df -Pk \"$(docker info --format '{{.DockerRootDir}}')\" | tail -n 1"
    done = runner.shell(script, timeout=60)
    fields = done.text.split()
    if done.returncode != 0 or len(fields) < 4 or not fields[1].isdigit():
        return None
    return int(fields[2]) * 1024, int(fields[1]) * 1024


def spend_today(runner: Box) -> float | str | None:
    """Today's cloud spend from Redis (USD), None when nothing was spent, or why unreadable."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    key = f"hybridctl:cloud_spend_usd:{day}"
    done = runner.compose(
        "exec", "-T", "redis", "redis-cli", "--no-auth-warning", "get", key, timeout=60
    )
    if done.returncode != 0:
        return f"Redis did not answer: {done.error_text.splitlines()[-1:] or ['no output']}"
    value = done.text.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return f"Redis holds {value[:40]!r} for {key}"


def fetch_ca(runner: Box, dest: Path) -> bool:
    """Save the proxy's root CA certificate to dest (the box's own CA, for TLS checks)."""
    done = runner.compose("exec", "-T", "proxy", "cat", CADDY_ROOT_CA, timeout=60)
    if done.returncode != 0 or b"BEGIN CERTIFICATE" not in done.stdout:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(done.stdout)
    return True


@dataclass(frozen=True)
class TlsFacts:
    leaf_expires: datetime
    ca_expires: datetime | None


def tls_facts(base_url: str, ca_file: Path | None, timeout: float = 10) -> TlsFacts:
    """The served certificate's expiry (TLS verified against ca_file, or the system's trust
    store when None) and the deployment CA's own (None for a public certificate)."""
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or "localhost"
    port = parts.port or 443
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        cert = tls.getpeercert()
    not_after = str(cert.get("notAfter")) if cert else ""
    leaf = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    return TlsFacts(leaf, _ca_expiry(ca_file) if ca_file else None)


def _ca_expiry(ca_file: Path) -> datetime | None:
    """The CA certificate's notAfter, read with the openssl CLI (None where it is missing)."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    done = subprocess.run(
        [openssl, "x509", "-noout", "-enddate", "-in", str(ca_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    _, _, stamp = done.stdout.strip().partition("=")
    if done.returncode != 0 or not stamp:
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(stamp), UTC)
