"""The first hour without a network, on a real Docker engine: an image that cannot be pulled,
a model that cannot be downloaded, and an upgrade whose cause would be lost in its rollback.

Deployments are named fh-* and publish 127.0.0.1:11543/11180, so they run beside the other box
tests; each one is destroyed at the end. No registry and no model host is reachable here, and a
catalog copy points the models at `models.invalid` (a name that never resolves), so the
failures are the same wherever the test runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hybridctl.catalog import load_catalog
from hybridctl.paths import default_catalog_path
from tests.box_support import IMAGES_ENV, box_env, run_cli, skip_unless_box_runs

pytestmark = pytest.mark.box

PORTS = ("--https-port", "11543", "--http-port", "11180")
MISSING_IMAGE = "hybridctl-local/no-such-llm:0"
UNRESOLVABLE = "models.invalid"
FAKE_KEYS = {
    "OPENAI_API_KEY": "test-openai-key-first-hour-0123456789",
    "ANTHROPIC_API_KEY": "test-anthropic-key-first-hour-0123456789",
}

skip_unless_box_runs()


class Site:
    """A state dir, an environment with the stand-in images, and the deployments made in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = box_env(root, FAKE_KEYS)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, check=False)

    def folder(self, name: str) -> Path:
        return self.root / "state" / "deployments" / name

    def containers(self, name: str) -> list[str]:
        label = f"label=com.docker.compose.project={name}"
        done = subprocess.run(
            ["docker", "ps", "--all", "--quiet", "--filter", label],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout.split()

    def destroy(self, name: str) -> None:
        if (self.folder(name) / "deployment.json").exists():
            self.cli("destroy", name, "--yes")
        assert not self.containers(name), f"{name} left containers behind"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def _unreachable_catalog(folder: Path) -> Path:
    """The shipped catalog with every model's URI on a host that does not resolve."""
    text = default_catalog_path().read_text()
    for model_id, model in load_catalog().models.items():
        text = text.replace(model.uri, f"https://{UNRESOLVABLE}/{model_id}.gguf")
    path = folder / "tiers.yaml"
    path.write_text(text)
    return path


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


def test_an_image_that_does_not_exist_fails_the_deploy_within_a_minute(site: Site) -> None:
    images = yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())
    images["llm"] = MISSING_IMAGE
    images_file = site.root / "images.yaml"
    images_file.write_text(yaml.safe_dump(images))
    name = "fh-image"
    try:
        started = time.monotonic()
        done = site.cli(
            "deploy", "--provider", "local", "--tier", "1", "--name", name, *PORTS,
            "--images", str(images_file),
        )  # fmt: skip
        elapsed = time.monotonic() - started
        text = _one_line(done)
        assert done.returncode == 1, text
        assert elapsed < 60, f"took {elapsed:.0f} s: {text}"
        assert f"{MISSING_IMAGE} (llm)" in text
        assert "--images FILE" in text and "bash scripts/local_images.sh" in text
        assert "Traceback" not in text
        assert not site.containers(name)  # nothing was started
        assert not (site.folder(name) / "deployment.json").exists()
    finally:
        site.destroy(name)


def test_a_model_that_cannot_be_downloaded_ends_with_curls_words_and_the_hint(
    site: Site,
) -> None:
    name = "fh-download"
    catalog = _unreachable_catalog(site.root)
    model = load_catalog().tier("1").models[0].model
    try:
        started = time.monotonic()
        done = site.cli(
            "deploy", "--provider", "local", "--tier", "1", "--name", name, *PORTS,
            "--catalog", str(catalog), "--allow-unverified", "--wait", "300",
        )  # fmt: skip
        elapsed = time.monotonic() - started
        text = _one_line(done)
        assert done.returncode == 1, text
        assert elapsed < 180, f"took {elapsed:.0f} s: {text}"
        assert f"Could not resolve host: {UNRESOLVABLE}" in text
        assert f"--model-file {model}=PATH" in text
        kept = site.folder(name) / "last-failure.log"
        assert str(kept) in text
        assert f"Could not resolve host: {UNRESOLVABLE}" in kept.read_text()
    finally:
        site.destroy(name)


def test_an_upgrade_rollback_keeps_the_failed_services_log(site: Site) -> None:
    from hybridctl.testing.modelgen import write_tiny_model

    name = "fh-rollback"
    catalog = _unreachable_catalog(site.root)
    tier_1 = [e.model for e in load_catalog().tier("1").models]
    seeds = []
    for i, model in enumerate(tier_1):
        path = write_tiny_model(site.root / f"{model}.gguf", seed=i)
        seeds += ["--model-file", f"{model}={path}"]
    try:
        done = site.cli(
            "deploy", "--provider", "local", "--tier", "1", "--name", name, *PORTS,
            "--catalog", str(catalog), "--allow-unverified", *seeds,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        # Tier 2's other model has no file here, so models-init tries the unresolvable host.
        done = site.cli(
            "upgrade", name, "--tier", "2", "--catalog", str(catalog), "--allow-unverified",
            "--wait", "300", "--yes", *seeds,
        )  # fmt: skip
        text = _one_line(done)
        assert done.returncode == 1, text
        assert "Rolled back to the previous bundle (tier 1)" in text
        unseeded = [e.model for e in load_catalog().tier("2").models if e.model not in tier_1]
        assert all(f"--model-file {model}=PATH" in text for model in unseeded), text
        kept = site.folder(name) / "last-failure.log"
        assert f"The services' logs from before the rollback are kept in {kept}" in text
        saved = kept.read_text()
        assert "upgrade to tier 2" in saved
        assert f"Could not resolve host: {UNRESOLVABLE}" in saved
        # The rollback replaced the container: its own log no longer says why.
        now = site.cli("logs", name, "models-init")
        assert now.returncode == 0, now.stderr
        assert UNRESOLVABLE not in now.stdout
    finally:
        site.destroy(name)


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    done = subprocess.run(
        ["docker", "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True
    )
    assert not [n for n in done.stdout.split() if n.startswith("fh-")]
