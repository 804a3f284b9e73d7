"""Deployment records: one JSON file per deployment under the state directory."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hybridctl.errors import InputError
from hybridctl.paths import state_dir
from hybridctl.suggest import close_matches

RECORD_FILE = "deployment.json"
KNOWN_HOSTS_FILE = "known_hosts"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")

Status = Literal["deploying", "deployed", "failed", "destroying"]


class DeploymentRecord(BaseModel):
    """What hybridctl knows about one deployment (no secrets: those stay in the Pulumi stack)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    provider: str
    tier: str
    region: str
    instance_type: str
    nodes: int
    admin_cidr: str
    ssh_public_key: str
    host_key_public: str
    host_key_fingerprint: str
    known_hosts: str
    backend_url: str
    monthly_usd: float
    status: Status
    created: str
    updated: str
    outputs: dict[str, Any] = {}
    last_error: str | None = None
    # IP -> the host key each node made for itself after the first verified login; once set,
    # only this key is pinned for that node (the user data's key identifies nothing any more).
    rotated_host_keys: dict[str, str] = {}


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_name(name: str) -> str:
    """A deployment name usable as a stack, a directory and a cloud resource name."""
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"deployment name {name!r} is not valid",
            hint="Use 2-42 characters: lower-case letters, digits and '-', starting with a letter "
            "(e.g. --name llm-prod).",
        )
    return name


def deployments_dir() -> Path:
    return state_dir() / "deployments"


def deployment_dir(name: str) -> Path:
    return deployments_dir() / check_name(name)


def known_hosts_path(name: str) -> Path:
    """The known_hosts file that pins this deployment's SSH host key."""
    return deployment_dir(name) / KNOWN_HOSTS_FILE


def workspace_dir(name: str) -> Path:
    """The Pulumi workspace (Pulumi.yaml, Pulumi.<stack>.yaml with encrypted config)."""
    return deployment_dir(name) / "workspace"


def save_record(record: DeploymentRecord) -> Path:
    """Write the record atomically (write a sibling file, then rename it into place)."""
    folder = deployment_dir(record.name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORD_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)
    return path


def find_record(name: str) -> DeploymentRecord | None:
    path = deployment_dir(name) / RECORD_FILE
    if not path.exists():
        return None
    try:
        return DeploymentRecord.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise InputError(
            f"deployment record {path} is damaged: {exc}",
            hint="Fix or remove that file; the Pulumi stack itself is unaffected.",
        ) from exc


def load_record(name: str) -> DeploymentRecord:
    """The record of an existing deployment; an unknown name gets a 'did you mean'."""
    record = find_record(name)
    if record is None:
        known = [r.name for r in list_records()]
        close = close_matches(name, known)
        raise InputError(
            f"no deployment named {name!r}" + (f"; did you mean {close}?" if close else ""),
            hint="List deployments with `hybridctl deployments`."
            if known
            else "Create one with `hybridctl deploy --tier T --provider P --name NAME`.",
        )
    return record


def list_records() -> list[DeploymentRecord]:
    """Every deployment record, sorted by name (damaged ones raise)."""
    root = deployments_dir()
    if not root.is_dir():
        return []
    records = []
    for folder in sorted(root.iterdir()):
        if (folder / RECORD_FILE).exists() and NAME_PATTERN.match(folder.name):
            record = find_record(folder.name)
            if record is not None:
                records.append(record)
    return records


def remove_deployment(name: str) -> None:
    """Forget a destroyed deployment: its record, known_hosts and Pulumi workspace."""
    folder = deployment_dir(name)
    if folder.exists():
        shutil.rmtree(folder)
