"""`backup` / `restore`: a box's state worth keeping in one archive with a checked manifest.

Kept: Redis (cloud spend per day, the response cache), Grafana, the proxy's CA and
certificates, the .env (the gateway's master key and the other keys), and with a flag
Prometheus. Not kept: the models, which deploy seeds or downloads again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.box.adapter import Box
from hybridctl.errors import InputError, OperationFailed
from hybridctl.ops.probes import containers, declared_services

FORMAT = "hybridctl-backup/1"
MANIFEST = "manifest.json"
ENV_PART = "env"
MAX_MEMBER_BYTES = 8 * 2**30


@dataclass(frozen=True)
class Part:
    """One volume's contents: which service mounts it, where."""

    name: str
    service: str
    path: str
    optional: bool = False


PARTS = (
    Part("redis", "redis", "/data"),
    Part("grafana", "grafana", "/var/lib/grafana"),
    Part("proxy", "proxy", "/data"),
    Part("prometheus", "prometheus", "/prometheus", optional=True),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tar_out(runner: Box, part: Part, running: bool) -> bytes:
    """The volume as a tar stream, read inside the service's own container (or a one-off)."""
    words = ("tar", "-cf", "-", "-C", part.path, ".")
    if running:
        done = runner.compose("exec", "-T", part.service, *words, timeout=1800)
    else:
        done = runner.compose(
            "run", "--rm", "--no-deps", "-T", "--entrypoint", words[0], part.service,
            *words[1:], timeout=1800,
        )  # fmt: skip
    if done.returncode != 0:
        raise OperationFailed(
            f"reading {part.name} ({part.service}:{part.path}) on {runner.where} failed: "
            f"{done.error_text[-400:]}"
        )
    return done.stdout


def _images(runner: Box) -> list[str]:
    done = runner.compose("config", "--images", timeout=60)
    return sorted({line.strip() for line in done.text.splitlines() if line.strip()})


def create_backup(
    record: DeploymentRecord,
    runner: Box,
    out: Path,
    *,
    with_prometheus: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Write the archive (mode 0600: it holds the deployment's keys); return its manifest."""
    from hybridctl import __version__

    declared = set(declared_services(runner))
    running = {c.service for c in containers(runner) if c.state.state == "running"}
    blobs: dict[str, bytes] = {}
    parts: dict[str, Any] = {}
    for part in PARTS:
        if part.service not in declared or (part.optional and not with_prometheus):
            continue
        data = _tar_out(runner, part, part.service in running)
        blobs[f"parts/{part.name}.tar"] = data
        parts[part.name] = {
            "file": f"parts/{part.name}.tar",
            "service": part.service,
            "path": part.path,
            "bytes": len(data),
            "sha256": _sha256(data),
        }
        say(f"{part.name}: {len(data) / 1024:,.0f} KiB from {part.service}:{part.path}")
    env = runner.shell(f"cat {shlex.quote(runner.directory + '/.env')}", timeout=60)
    if env.returncode != 0:
        raise OperationFailed(f"reading the .env on {runner.where} failed: {env.error_text}")
    blobs[ENV_PART] = env.stdout
    parts[ENV_PART] = {"file": ENV_PART, "bytes": len(env.stdout), "sha256": _sha256(env.stdout)}
    say("env: the .env (master key and the other keys)")
    manifest = {
        "format": FORMAT,
        "hybridctl_version": __version__,
        "deployment": record.name,
        "tier": record.tier,
        "provider": record.provider,
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "images": _images(runner),
        "parts": parts,
        "contains_secrets": True,
        "not_included": "the models: deploy seeds or downloads them again",
    }
    _write_archive(out, manifest, blobs)
    return manifest


def _write_archive(out: Path, manifest: dict[str, Any], blobs: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as archive:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=2).encode()), *blobs.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    partial.replace(out)


def read_backup(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every part, each checked against its sha256; refuses anything off."""
    if not path.is_file():
        raise InputError(f"backup file {path} does not exist")
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            if MANIFEST not in members:
                raise InputError(f"{path} is not a hybridctl backup (no {MANIFEST})")
            manifest = _checked_manifest(path, json.loads(_member(archive, members[MANIFEST])))
            blobs = {
                info["file"]: _member(archive, members[info["file"]])
                for info in manifest["parts"].values()
                if info["file"] in members
            }
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path} is not a readable hybridctl backup: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise InputError(
            f"{path} has backup format {manifest.get('format')!r}; this hybridctl reads {FORMAT}",
            hint="Restore it with the hybridctl version that wrote it "
            f"({manifest.get('hybridctl_version', 'unknown')}).",
        )
    for name, info in manifest["parts"].items():
        data = blobs.get(info["file"])
        if data is None:
            raise InputError(f"{path} is damaged: part {name} ({info['file']}) is missing")
        if _sha256(data) != info["sha256"]:
            raise InputError(
                f"{path} is damaged: part {name} does not match its sha256 in the manifest",
                hint="Use another copy of the backup; this one was changed or cut short.",
            )
    return manifest, blobs


def _checked_manifest(path: Path, manifest: Any) -> dict[str, Any]:
    """The manifest's shape, and every part one this hybridctl writes, where it writes it: a
    restore unpacks only into the volumes PARTS names, whatever an archive says."""
    known = {part.name: part for part in PARTS}
    parts = manifest.get("parts") if isinstance(manifest, dict) else None
    if not isinstance(parts, dict):
        raise InputError(f"{path} is not a hybridctl backup (its manifest lists no parts)")
    for name, info in parts.items():
        fields = info if isinstance(info, dict) else {}
        if not all(isinstance(fields.get(key), str) for key in ("file", "sha256")):
            raise InputError(f"{path} is damaged: part {name!r} has no file or sha256")
        if name == ENV_PART:
            continue
        part = known.get(name)
        if part is None or (fields.get("service"), fields.get("path")) != (part.service, part.path):
            raise InputError(
                f"{path} holds a part this hybridctl does not restore: {name!r} "
                f"({fields.get('service')}:{fields.get('path')})"
            )
    return manifest


def _member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    if info.size > MAX_MEMBER_BYTES:
        raise InputError(f"backup member {info.name} is implausibly large ({info.size} bytes)")
    handle = archive.extractfile(info)
    if handle is None:
        raise InputError(f"backup member {info.name} cannot be read")
    return handle.read()


def check_fits(manifest: dict[str, Any], record: DeploymentRecord, declared: list[str]) -> None:
    """Refuse a backup that does not belong on this deployment's tier and services."""
    if manifest.get("tier") != record.tier:
        raise InputError(
            f"the backup is of tier {manifest.get('tier')} ({manifest.get('deployment')}), "
            f"but {record.name} runs tier {record.tier}",
            hint=f"Restore into a tier-{manifest.get('tier')} deployment, then move it with "
            "`hybridctl upgrade`.",
        )
    for name, info in manifest["parts"].items():
        service = info.get("service")
        if service and service not in declared:
            raise InputError(
                f"the backup holds {name} for service {service}, which {record.name} does not run"
            )
