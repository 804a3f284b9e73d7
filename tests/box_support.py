"""What every box test module needs first: Docker, Compose v2 and the stand-in images, or a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
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
