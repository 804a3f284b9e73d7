"""What every box test module needs first: Docker, Compose v2 and the stand-in images, or a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IMAGES_ENV = "HYBRIDCTL_TEST_IMAGES"
REQUIRE_ENV = "HYBRIDCTL_REQUIRE_BOX"


def _missing() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "the Docker engine does not answer"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "no Docker Compose v2 plugin"
    images = os.environ.get(IMAGES_ENV)
    if not images or not Path(images).is_file():
        return f"${IMAGES_ENV} names no images file (run scripts/local_images.sh)"
    return None


def skip_unless_box_runs() -> None:
    """Skip the calling module when the box cannot run here; fail instead under REQUIRE_ENV=1."""
    why = _missing()
    if why is None:
        return
    if os.environ.get(REQUIRE_ENV):
        raise RuntimeError(f"box tests required ({REQUIRE_ENV}=1) but cannot run: {why}")
    pytest.skip(f"box tests need Docker: {why}", allow_module_level=True)


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`hybridctl ARGS` in a child process with the test's environment (exit 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "hybridctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def box_env(root: Path, keys: dict[str, str]) -> dict[str, str]:
    """The CLI's environment for box tests under `root`: its own home and state, the stand-in
    images, and `keys` as the only API keys (none of the caller's)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        **keys,
        "HOME": str(root / "home"),
        "HYBRIDCTL_STATE_DIR": str(root / "state"),
        "HYBRIDCTL_IMAGES": os.environ[IMAGES_ENV],
        "COLUMNS": "200",
    }


def master_key(bundle: Path) -> str:
    """The gateway's master key from a bundle's .env."""
    for line in (bundle / ".env").read_text().splitlines():
        if line.startswith("LITELLM_MASTER_KEY="):
            return line.partition("=")[2]
    raise AssertionError("no master key in .env")
