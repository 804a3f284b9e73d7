"""Image overrides: a YAML file that maps the stack's services to other image references."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from hybridctl.errors import InputError
from hybridctl.suggest import close_matches

IMAGES_ENV = "HYBRIDCTL_IMAGES"
SERVICES = ("llm", "gateway", "redis", "prometheus", "grafana", "proxy", "curl")
# Services a box can run without: null in the file leaves them out of the stack.
OPTIONAL_SERVICES = ("grafana",)
# registry[:port]/path[:tag][@sha256:digest], as `docker pull` accepts it (lower-case path).
_REFERENCE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)

ImageOverrides = dict[str, str | None]


def _problem(path: Path, line: int | None, message: str, hint: str) -> InputError:
    where = f"{path}:{line}" if line else str(path)
    return InputError(f"images file {where}: {message}", hint=hint)


def _key_lines(text: str) -> dict[str, int]:
    """The 1-based line of each top-level key, for error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        str(key.value): key.start_mark.line + 1
        for key, _ in node.value
        if isinstance(key, yaml.ScalarNode)
    }


def parse_images(text: str, path: Path) -> ImageOverrides:
    """Check an images file's text: known services, valid references, null only where allowed."""
    hint = f"Map services ({', '.join(SERVICES)}) to image references, e.g. llm: my.registry/llm:1"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise _problem(
            path, line, f"not valid YAML ({getattr(exc, 'problem', exc)})", hint
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _problem(path, 1, "must be a mapping of service to image", hint)
    lines = _key_lines(text)
    overrides: ImageOverrides = {}
    for key, value in data.items():
        name = str(key)
        line = lines.get(name)
        if name not in SERVICES:
            close = close_matches(name, SERVICES)
            raise _problem(
                path,
                line,
                f"unknown service {name!r}" + (f" (did you mean {close}?)" if close else ""),
                hint,
            )
        if value is None:
            if name not in OPTIONAL_SERVICES:
                raise _problem(
                    path,
                    line,
                    f"{name}: null, but the stack cannot run without {name}",
                    f"Only {', '.join(OPTIONAL_SERVICES)} may be null (left out of the stack).",
                )
            overrides[name] = None
            continue
        if not isinstance(value, str) or not _REFERENCE.match(value):
            raise _problem(
                path,
                line,
                f"{name}: {value!r} is not an image reference",
                "Write it as docker pull takes it, e.g. registry.example.com/team/llm:b8840.",
            )
        overrides[name] = value
    return overrides


def load_images_file(path: Path | None, environ: Mapping[str, str] | None = None) -> ImageOverrides:
    """The overrides from `path`, else from $HYBRIDCTL_IMAGES, else none (the pinned images)."""
    env = os.environ if environ is None else environ
    if path is None:
        named = env.get(IMAGES_ENV)
        if not named:
            return {}
        path = Path(named)
    path = path.expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the images file {path}: {exc.strerror}",
            hint=f"Pass an existing YAML file with --images (or ${IMAGES_ENV}).",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _problem(path, line, "is not UTF-8 text", "Save the file as UTF-8.") from None
    return parse_images(text, path)
