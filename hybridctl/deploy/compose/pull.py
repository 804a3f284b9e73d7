"""The images a local bundle runs: found on this machine, or pulled while the registry answers."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import yaml

from hybridctl.errors import OperationFailed

# A registry that has not answered a pull by then (no manifest: an unknown image, no network,
# no DNS) will not; a pull it answered may take as long as its layers need.
REGISTRY_ANSWER_S = 45.0
PULL_TIMEOUT_S = 1800.0
POLL_S = 0.25


class ImagesUnavailable(OperationFailed):
    """An image the stack runs is not on this machine and cannot be pulled (exit 1)."""


IMAGES_HINT = (
    "Name images this machine has or can pull in an images file: --images FILE (or "
    "HYBRIDCTL_IMAGES=FILE). On a machine that reaches no registry, build stand-ins with "
    "`bash scripts/local_images.sh`; its last line is the images file to pass."
)


def compose_images(compose_text: str) -> dict[str, list[str]]:
    """Each image a rendered compose file runs, with the services that run it; an image that
    compose builds itself (a `build:` section) is left out."""
    data = yaml.safe_load(compose_text) or {}
    found: dict[str, list[str]] = {}
    for service, spec in (data.get("services") or {}).items():
        if not isinstance(spec, dict) or "build" in spec or not spec.get("image"):
            continue
        found.setdefault(str(spec["image"]), []).append(str(service))
    return found


def _docker() -> str:
    return shutil.which("docker") or "docker"


def missing_images(images: Iterable[str]) -> list[str]:
    """The images that `docker image inspect` does not find on this machine."""
    missing = []
    for image in images:
        done = subprocess.run(
            [_docker(), "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            missing.append(image)
    return missing


@dataclass
class _Pull:
    """One `docker pull` under way; its output lines are read on a thread."""

    image: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    answered: bool = False
    reader: threading.Thread | None = None

    def start(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # The client's own note about the tag comes before the registry has said anything.
            if not line.startswith("Using default tag"):
                self.answered = True
            if line.strip():
                self.lines.append(line.strip())

    def outcome(self, waited: float, answer_s: float, timeout_s: float) -> str | None:
        """'' once pulled, why it failed once it has, None while it may still succeed."""
        code = self.process.poll()
        if code is None:
            if not self.answered and waited >= answer_s:
                return self._stop(f"the registry did not answer within {answer_s:.0f} s")
            if waited >= timeout_s:
                return self._stop(f"the pull did not finish within {timeout_s:.0f} s")
            return None
        if self.reader is not None:
            self.reader.join(timeout=5)  # the last lines carry docker's error
        if code == 0:
            return ""
        said = [line for line in self.lines if "error" in line.lower()] or self.lines
        return said[-1] if said else f"docker pull exited {code}"

    def _stop(self, why: str) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        return why


def pull_images(
    images: Iterable[str],
    *,
    answer_s: float = REGISTRY_ANSWER_S,
    timeout_s: float = PULL_TIMEOUT_S,
    command: Callable[[str], list[str]] | None = None,
) -> dict[str, str]:
    """Pull the images side by side; {image: why it failed}, empty when every one arrived.

    A pull is stopped when it prints nothing for `answer_s` (docker prints its first line once
    the registry has answered with the image's manifest) or runs past `timeout_s`.
    """
    argv = command or (lambda image: [_docker(), "pull", image])
    started = time.monotonic()
    running: list[_Pull] = []
    for image in images:
        process = subprocess.Popen(
            argv(image),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        pull = _Pull(image, process)
        pull.start()
        running.append(pull)
    failures: dict[str, str] = {}
    while running:
        time.sleep(POLL_S)
        waited = time.monotonic() - started
        for pull in list(running):
            outcome = pull.outcome(waited, answer_s, timeout_s)
            if outcome is None:
                continue
            running.remove(pull)
            if outcome:
                failures[pull.image] = outcome
    return failures


def ensure_images(
    images: dict[str, list[str]],
    *,
    say: Callable[[str], None],
    answer_s: float = REGISTRY_ANSWER_S,
) -> None:
    """Fail before anything starts when an image the stack runs is neither here nor pullable."""
    missing = missing_images(images)
    if not missing:
        return
    for image in missing:
        say(f"images: pulling {image} ({', '.join(images[image])})")
    failures = pull_images(missing, answer_s=answer_s)
    if not failures:
        say(f"images: {len(missing)} pulled")
        return
    lines = "\n".join(
        f"  - {image} ({', '.join(images[image])}): {why}" for image, why in failures.items()
    )
    count = len(failures)
    raise ImagesUnavailable(
        f"{count} image{'s' if count != 1 else ''} of the stack cannot be pulled, so nothing "
        f"was started:\n{lines}",
        hint=IMAGES_HINT,
    )
