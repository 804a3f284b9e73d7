"""Fit a re-rendered local bundle to this machine: what to recreate, the CPUs it can grant."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from hybridctl.errors import OperationFailed

MANIFEST = "hybridctl-manifest.json"  # written by render: each file's sha256
COMPOSE_FILE = "docker-compose.yml"


def file_hashes(bundle: Path) -> dict[str, str]:
    """Each rendered file's sha256 from the bundle's manifest; {} when there is none yet."""
    try:
        data = json.loads((bundle / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _services(bundle: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((bundle / COMPOSE_FILE).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise OperationFailed(f"cannot read {bundle / COMPOSE_FILE}: {exc}") from None
    services = data.get("services") if isinstance(data, dict) else None
    return services if isinstance(services, dict) else {}


def _bind_sources(service: dict[str, Any]) -> list[str]:
    """The bundle paths a service bind-mounts (./llm/models.ini -> llm/models.ini)."""
    sources = []
    for volume in service.get("volumes") or []:
        source = volume.get("source", "") if isinstance(volume, dict) else str(volume)
        source = str(source).split(":", 1)[0]
        if source.startswith("./"):
            sources.append(source[2:].rstrip("/"))
    return sources


def changed_mounts(bundle: Path, before: dict[str, str]) -> dict[str, list[str]]:
    """Services that mount a file this render changed, with those files.

    Compose recreates a container when its configuration changes, but not when a file it
    mounts does (models.ini for another tier, the router's policy): those need recreating.
    """
    if not before:
        return {}
    after = file_hashes(bundle)
    changed = sorted(p for p in after.keys() | before.keys() if after.get(p) != before.get(p))
    out: dict[str, list[str]] = {}
    for name, service in _services(bundle).items():
        if not isinstance(service, dict):
            continue
        hits = [
            path
            for path in changed
            for source in _bind_sources(service)
            if path == source or path.startswith(source + "/")
        ]
        if hits:
            out[str(name)] = sorted(set(hits))
    return out


def host_cpus() -> int:
    """The CPUs this machine's engine can grant a container (Docker refuses more)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
