"""The first hour without a network, without Docker: images checked before anything starts, a
failed boot's logs kept with the `--model-file` hint, and hints that give the command to run."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.catalog.deployments import RECORD_FILE
from hybridctl.cli.app import app
from hybridctl.deploy.box.failure import FAILURE_LOG, keep_failure_log, model_file_hint
from hybridctl.deploy.compose import compose
from hybridctl.deploy.compose.compose import ServiceState
from hybridctl.deploy.compose.pull import IMAGES_HINT, compose_images, ensure_images, pull_images
from hybridctl.errors import OperationFailed
from hybridctl.render import RenderOptions, render_files

runner = CliRunner()

# A stand-in `docker` client: the engine answers, images under present/ exist, a pull of
# slow/... never hears from its registry, any other pull is refused the way Docker Hub does.
FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "compose version") echo "2.29.7"; exit 0 ;;
  "info --format") echo "20.10.24"; exit 0 ;;
esac
if [ "$1" = image ] && [ "$2" = inspect ]; then
  for last; do :; done
  case "$last" in present/*) echo sha256:0; exit 0 ;; esac
  echo "Error: No such image: $last" >&2; exit 1
fi
if [ "$1" = pull ]; then
  case "$2" in
    slow/*) exec sleep 60 ;;
    pullable/*) echo "1: Pulling from $2"; echo "Status: Downloaded newer image for $2"; exit 0 ;;
  esac
  echo "Error response from daemon: pull access denied for ${2%%:*}, repository does not" \
       "exist or may require 'docker login'" >&2
  exit 1
fi
echo "fake docker: unexpected $*" >&2
exit 3
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    compose.compose_command.cache_clear()
    yield docker
    compose.compose_command.cache_clear()


def test_the_images_of_a_rendered_stack_and_who_runs_them() -> None:
    overrides = {"grafana": None, "llm": "mirror.local/llm:1", "curl": "mirror.local/curl:1"}
    rendered = render_files(load_catalog(), RenderOptions(tier_id="2", images=overrides))
    images = compose_images(rendered.files["docker-compose.yml"])
    assert images["mirror.local/llm:1"] == ["llm"]
    assert sorted(images["mirror.local/curl:1"]) == ["models-init", "models-warm"]
    assert not any("grafana" in services for services in images.values())
    built = "services:\n  llm: {image: local/bitnet:1, build: {context: ./bitnet}}\n"
    assert compose_images(built) == {}  # compose builds it on the box: nothing to pull


def test_pulls_run_side_by_side_and_each_failure_says_why(tmp_path: Path) -> None:
    scripts = {
        "ok": "echo '1: Pulling from ok'; exit 0",
        "refused": "echo 'Error response from daemon: manifest unknown' >&2; exit 1",
        "silent": "exec sleep 30",
        # the client says this before the registry has said anything
        "untagged": "echo 'Using default tag: latest'; exec sleep 30",
        "endless": "echo '1: Pulling from endless'; exec sleep 30",
    }
    started = time.monotonic()
    failures = pull_images(
        scripts,
        answer_s=1.0,
        timeout_s=3.0,
        command=lambda image: ["sh", "-c", scripts[image]],
    )
    assert time.monotonic() - started < 10  # all at once, each stopped at its bound
    assert failures == {
        "refused": "Error response from daemon: manifest unknown",
        "silent": "the registry did not answer within 1 s",
        "untagged": "the registry did not answer within 1 s",
        "endless": "the pull did not finish within 3 s",
    }


def test_an_image_that_cannot_be_pulled_is_named_with_the_way_out(fake_docker: Path) -> None:
    said: list[str] = []
    images = {
        "present/redis:1": ["redis"],
        "pullable/proxy:1": ["proxy"],
        "nowhere/llm:1": ["llm"],
        "slow/curl:1": ["models-init", "models-warm"],
    }
    started = time.monotonic()
    with pytest.raises(OperationFailed) as caught:
        ensure_images(images, say=said.append, answer_s=2.0)
    assert time.monotonic() - started < 15
    message = caught.value.message
    assert caught.value.exit_code == 1
    assert "2 images of the stack cannot be pulled, so nothing was started" in message
    assert "nowhere/llm:1 (llm): Error response from daemon: pull access denied" in message
    assert "slow/curl:1 (models-init, models-warm): the registry did not answer" in message
    assert "present/redis" not in message and "pullable/proxy" not in message
    assert caught.value.hint == IMAGES_HINT
    assert "--images FILE" in IMAGES_HINT and "bash scripts/local_images.sh" in IMAGES_HINT
    assert "images: pulling nowhere/llm:1 (llm)" in said
    assert not any("present/redis" in line for line in said)


def test_deploy_fails_on_an_unpullable_image_before_touching_anything(
    fake_docker: Path, tmp_path: Path, isolated_env: Path
) -> None:
    images = tmp_path / "images.yaml"
    images.write_text(
        yaml.safe_dump(
            {
                "llm": "nowhere/llm:1",
                "gateway": "present/gateway:1",
                "redis": "present/redis:1",
                "prometheus": "present/prometheus:1",
                "proxy": "present/proxy:1",
                "curl": "present/curl:1",
                "grafana": None,
            }
        )
    )
    result = runner.invoke(
        app,
        ["deploy", "--provider", "local", "--tier", "1", "--name", "fh-unit"],
        env={"HYBRIDCTL_IMAGES": str(images)},
    )
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "nowhere/llm:1 (llm)" in text and "pull access denied" in text
    assert "--images FILE" in text and "bash scripts/local_images.sh" in text
    deployment = isolated_env / "state" / "deployments" / "fh-unit"
    assert not (deployment / "bundle").exists()  # nothing rendered, nothing started
    assert not (deployment / RECORD_FILE).exists()


class _Box:
    """A compose project seen through the Compose protocol, with canned states and logs."""

    def __init__(self, states: dict[str, ServiceState], logs: dict[str, str]) -> None:
        self._states = states
        self._logs = logs

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        raise AssertionError("not used")

    def states(self) -> dict[str, ServiceState]:
        return self._states

    def logs(self, service: str, lines: int = 30) -> str:
        return self._logs.get(service, "")

    def copy_out(self, source: str, dest: Path) -> bool:
        return False


def test_a_failed_boot_keeps_every_services_log_and_shows_the_failed_ones(
    isolated_env: Path,
) -> None:
    curl_words = "curl: (6) Could not resolve host: huggingface.co"
    download = "\n".join(
        [*(f"models-init-1  | line {n}" for n in range(40)), f"models-init-1  | {curl_words}"]
    )
    downloader = ServiceState("models-init", "exited", "", 1, ())
    box = _Box(
        {
            "models-init": downloader,
            "gateway": ServiceState("gateway", "running", "healthy", 0, ()),
        },
        {"models-init": download, "gateway": "gateway-1  | Uvicorn running"},
    )
    kept, shown = keep_failure_log(box, "fh-log", "deploy: models", [downloader])
    assert kept == isolated_env / "state" / "deployments" / "fh-log" / FAILURE_LOG
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    text = kept.read_text()
    assert "--- models-init (exited (1)):" in text and "line 0" in text
    assert "--- gateway (running (healthy)):" in text and "Uvicorn running" in text
    assert shown.startswith("--- models-init (exited (1)), last lines:")
    assert shown.endswith(curl_words) and "line 0" not in shown  # the tail, not all of it
    hint = model_file_hint(["tinyllama-1.1b-chat-q4_k_m", "qwen2.5-1.5b"])
    assert "--model-file tinyllama-1.1b-chat-q4_k_m=PATH --model-file qwen2.5-1.5b=PATH" in hint


def test_logs_says_where_the_last_failure_was_kept(isolated_env: Path) -> None:
    from hybridctl.ops.logs import failure_note

    assert failure_note("fh-note") is None
    box = _Box({}, {})
    kept, _ = keep_failure_log(box, "fh-note", "upgrade to tier 2", [])
    note = failure_note("fh-note")
    assert note is not None and str(kept) in note and "before any rollback" in note


def test_a_stopped_engine_is_answered_with_the_command_that_starts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.deploy.compose.compose import check_engine
    from hybridctl.errors import UsageError

    folder = tmp_path / "bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(
        '#!/bin/sh\n[ "$1" = compose ] && { echo 2.29.7; exit 0; }\n'
        'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. '
        'Is the docker daemon running?" >&2; exit 1\n'
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    compose.compose_command.cache_clear()
    try:
        with pytest.raises(UsageError) as caught:
            check_engine()
    finally:
        compose.compose_command.cache_clear()
    assert "Is the docker daemon running?" in caught.value.message
    hint = caught.value.hint or ""
    assert "sudo systemctl start docker" in hint
    assert "setsid dockerd > /var/log/dockerd.log" in hint


def test_a_failed_up_is_reported_in_composes_words_without_its_progress_lines() -> None:
    from hybridctl.deploy.compose.compose import compose_said

    up_log = """ Container fh-doc-models-warm-1  Creating
 Container fh-doc-proxy-1  Created
 Container fh-doc-models-init-1  Waiting
 Container fh-doc-gateway-1  Started
 Container fh-doc-models-init-1  service "models-init" didn't complete successfully: exit 1
service "models-init" didn't complete successfully: exit 1
"""
    said = compose_said(up_log)
    assert said.splitlines() == [
        'Container fh-doc-models-init-1  service "models-init" didn\'t complete successfully: '
        "exit 1",
        'service "models-init" didn\'t complete successfully: exit 1',
    ]
    only_progress = " Container a-1  Created\n Container a-1  Started\n"
    assert compose_said(only_progress) == "Container a-1  Created\n Container a-1  Started"
