"""Shared fixtures: every test runs with its own HOME, state dir and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Modules that define fixtures, registered here so that tests use the fixtures by name and
# import these modules only for their helpers (tests/test_test_layout.py keeps this list whole).
pytest_plugins = ["tests.ssh_fixtures", "tests.router_fixtures"]

_LEAKY_PREFIXES = ("HYBRIDCTL_", "PULUMI_", "AWS_", "GOOGLE_", "CLOUDSDK_", "HCLOUD_", "XDG_")
_KEEP = {
    "HYBRIDCTL_REQUIRE_GATEWAY",
    "HYBRIDCTL_LITELLM",
    "HYBRIDCTL_UPDATE_GOLDEN",
    "HYBRIDCTL_REQUIRE_BOX",
    "HYBRIDCTL_TEST_IMAGES",
}


def _leaky(name: str) -> bool:
    if name in _KEEP:
        return False
    return name.startswith(_LEAKY_PREFIXES) or name.endswith(("_API_KEY", "_TOKEN"))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate HOME and hybridctl's state so no test reads or writes the real user's files."""
    home = tmp_path_factory.mktemp("home")
    for name in [n for n in os.environ if _leaky(n)]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HYBRIDCTL_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    return home
