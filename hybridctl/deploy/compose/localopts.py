"""The render choices of a local box (images, route URLs, ports), kept for `upgrade`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hybridctl.catalog import deployments

OPTIONS_FILE = "local-options.json"


@dataclass(frozen=True)
class LocalOptions:
    """What `deploy --provider local` rendered with, besides the tier (no secrets)."""

    images: dict[str, str | None] = field(default_factory=dict)
    route_urls: dict[str, str] = field(default_factory=dict)
    https_port: int = 443
    http_port: int = 80


def save_local_options(name: str, request: Any) -> None:
    """Record a LocalRequest's render choices beside the deployment's record."""
    data = {
        "images": dict(request.images),
        "route_urls": dict(request.route_urls),
        "https_port": int(request.https_port),
        "http_port": int(request.http_port),
    }
    path = deployments.deployment_dir(name) / OPTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_local_options(name: str) -> LocalOptions | None:
    """The saved choices, or None for a box deployed before they were recorded."""
    path = deployments.deployment_dir(name) / OPTIONS_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return LocalOptions(
            images={str(k): (None if v is None else str(v)) for k, v in data["images"].items()},
            route_urls={str(k): str(v) for k, v in data["route_urls"].items()},
            https_port=int(data["https_port"]),
            http_port=int(data["http_port"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
