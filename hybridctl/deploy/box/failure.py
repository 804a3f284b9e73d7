"""What a failed deploy or upgrade keeps for the operator: its services' logs, before rollback."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hybridctl.catalog import deployments
from hybridctl.deploy.box.adapter import Box
from hybridctl.deploy.compose.compose import ServiceState, failed, tail
from hybridctl.stackfacts import ONE_SHOT_SERVICES

FAILURE_LOG = "last-failure.log"
KEPT_LINES = 200  # per service, in the file
SHOWN_LINES = 12  # per failed service, in the error message


def failure_log(name: str) -> Path:
    """Where the deployment `name` keeps the logs of its last failed deploy or upgrade."""
    return deployments.deployment_dir(name) / FAILURE_LOG


def failed_services(box: Box) -> list[ServiceState]:
    return failed(list(box.states().values()), ONE_SHOT_SERVICES)


def keep_failure_log(
    box: Box, name: str, what: str, services: Sequence[ServiceState] = ()
) -> tuple[Path, str]:
    """Write every service's last lines to the deployment's failure log (0600); return its
    path and the failed services' last lines for the error message."""
    states = box.states()
    first = [s.service for s in services]
    logs = {s: box.logs(s, KEPT_LINES) for s in dict.fromkeys(first + sorted(states))}
    sections = [f"# {what}, {deployments.now()}"]
    for service, text in logs.items():
        label = states[service].label if service in states else "no container"
        sections.append(f"--- {service} ({label}):\n{text}")
    path = failure_log(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(sections) + "\n")
    shown = "\n".join(
        f"--- {s.service} ({s.label}), last lines:\n{tail(logs[s.service], SHOWN_LINES)}"
        for s in services
    )
    return path, shown


def model_file_hint(models: Sequence[str]) -> str:
    """How to serve the tier's models without downloading them on the box."""
    flags = " ".join(f"--model-file {model}=PATH" for model in models)
    return (
        "Where the box cannot download a model, copy the GGUF file onto this machine and deploy "
        f"with {flags} (its sha256 is checked against the catalog's)."
    )
