"""Shared fixtures: every test runs with its own HOME, state dir and a clean environment."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

_LEAKY_ENV = (
    "HYBRIDCTL_CATALOG",
    "HYBRIDCTL_STATE_DIR",
    "HYBRIDCTL_DEBUG",
    "XDG_STATE_HOME",
    "XDG_CONFIG_HOME",
    "PULUMI_ACCESS_TOKEN",
    "PULUMI_CONFIG_PASSPHRASE",
    "HCLOUD_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
    "GOOGLE_CREDENTIALS",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate HOME and hybridctl's state so no test reads or writes the real user's files."""
    home = tmp_path_factory.mktemp("home")
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HYBRIDCTL_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    return home
