"""Where hybridctl finds its shipped data and keeps its state."""

from __future__ import annotations

import os
from pathlib import Path

CATALOG_ENV = "HYBRIDCTL_CATALOG"
STATE_ENV = "HYBRIDCTL_STATE_DIR"
CACHE_ENV = "HYBRIDCTL_CACHE_DIR"
PRICES_ENV = "HYBRIDCTL_PRICES"

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


def cache_dir() -> Path:
    """Per-user cache (the validated catalog): $HYBRIDCTL_CACHE_DIR or XDG; safe to delete."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hybridctl"


def prices_path() -> Path:
    """The user's price snapshot (`hybridctl prices refresh`): $HYBRIDCTL_PRICES or XDG config."""
    override = os.environ.get(PRICES_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hybridctl" / "prices.yaml"


def not_a_file(path: Path) -> str | None:
    """Why path cannot be read as a file ('does not exist', 'is a directory', ...), or None."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, pipe or socket)"
    return None


def catalog_to_validate(given: Path | None) -> Path:
    """What `validate` checks: the file given, else ./tiers.yaml here, else the default catalog.

    After a non-editable install the shipped copy lives in site-packages; the file a user
    edits is the one in the directory they work in.
    """
    if given is not None:
        return given
    here = Path("tiers.yaml")
    if not os.environ.get(CATALOG_ENV) and here.is_file():
        return here.resolve()
    return default_catalog_path()
