"""Where hybridctl finds its shipped data and keeps its state."""

from __future__ import annotations

import os
from pathlib import Path

CATALOG_ENV = "HYBRIDCTL_CATALOG"
STATE_ENV = "HYBRIDCTL_STATE_DIR"

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE_DIR.parent


def _shipped(name: str) -> Path:
    """A data file from the installed wheel, or from the source tree in a checkout."""
    installed = _PACKAGE_DIR / "data" / name
    return installed if installed.exists() else _SOURCE_ROOT / name


def default_catalog_path() -> Path:
    """The catalog to use: $HYBRIDCTL_CATALOG if set, else the shipped tiers.yaml."""
    override = os.environ.get(CATALOG_ENV)
    return Path(override) if override else _shipped("tiers.yaml")


def templates_dir() -> Path:
    """The shipped Jinja templates."""
    return _shipped("templates")


def state_dir() -> Path:
    """Per-user state (deployments, keys, known_hosts): $HYBRIDCTL_STATE_DIR or XDG."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hybridctl"
