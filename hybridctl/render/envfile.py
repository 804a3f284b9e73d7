"""The bundle's .env: API keys from the user's environment, generated secrets, mode 0600."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hybridctl.errors import InputError
from hybridctl.render.context import API_KEY_ENV, GENERATED_ENV

ENV_FILE = ".env"
_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
# Characters compose's .env parser treats specially in an unquoted value (and a shell would).
_UNSAFE = frozenset("$#'\"`\\")


@dataclass(frozen=True)
class EnvResult:
    values: dict[str, str]
    generated: list[str]  # names of secrets created now
    from_environment: list[str]  # API keys taken from the user's environment now


def _unsafe_character(value: str) -> str | None:
    """How to name the first character docker compose would not read back as written."""
    for char in value:
        if char in _UNSAFE:
            return f"a {char!r}"
        if char in "\r\n":
            return "a line break"
        if char.isspace():
            return "whitespace"
        if not (" " < char <= "~"):
            return "a control or non-ASCII character"
    return None


def check_env_value(name: str, value: str) -> None:
    """Refuse a value that compose's .env parser would change; the message never shows it.

    Values are written unquoted, where compose interpolates `$`, cuts a comment at ` #`, strips
    quotes and whitespace. Rather than rely on its quoting rules, only plain printable ASCII
    without those characters is accepted (API keys and generated secrets are).
    """
    what = _unsafe_character(value)
    if what is not None:
        raise InputError(
            f"the value of {name} contains {what}, which docker compose would not read back "
            "unchanged from .env",
            hint=f"Use a value of {name} made of printable ASCII without spaces or "
            f"{' '.join(sorted(_UNSAFE))}; fix it in your environment or in .env.",
        )


def generate_secret(name: str) -> str:
    """A fresh random secret; LiteLLM wants its master key to start with 'sk-'."""
    token = secrets.token_urlsafe(32)
    return f"sk-{token}" if name == "LITELLM_MASTER_KEY" else token


def parse_env(text: str, source: str = ENV_FILE) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError(
                f"{source} line {number} is not NAME=value",
                hint="Fix or delete the line; values are written without quotes.",
            )
        values[match.group(1)] = match.group(2)
    return values


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text",
            hint="Fix or delete it; hybridctl writes it as NAME=value lines.",
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return parse_env(text, str(path))


def build_env(existing: Mapping[str, str], environ: Mapping[str, str]) -> EnvResult:
    """Merge: keep every existing value, take API keys from the environment, generate the rest.

    An API key set in the user's environment wins over the one in an existing .env (the user
    just said so); generated secrets are never regenerated once written.
    """
    values = dict(existing)
    from_environment: list[str] = []
    for name in API_KEY_ENV:
        given = environ.get(name, "").strip()
        if given and values.get(name) != given:
            values[name] = given
            from_environment.append(name)
    generated: list[str] = []
    for name in GENERATED_ENV:
        if not values.get(name):
            values[name] = generate_secret(name)
            generated.append(name)
    for name, value in values.items():
        check_env_value(name, value)
    return EnvResult(values, generated, from_environment)


def format_env(values: Mapping[str, str]) -> str:
    for name, value in values.items():
        check_env_value(name, value)
    lines = [
        "# hybridctl secrets: API keys, the gateway's master key, Grafana's and Redis's passwords.",
        "# Keep this file private (mode 0600); it is never printed and never committed.",
    ]
    lines += [f"{name}={values[name]}" for name in sorted(values)]
    return "\n".join(lines) + "\n"


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Write the .env atomically, created 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(format_env(values))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    path.chmod(0o600)


def ensure_env(bundle_dir: Path, environ: Mapping[str, str] | None = None) -> EnvResult:
    """Create or update the bundle's .env and return what is in it."""
    path = bundle_dir / ENV_FILE
    result = build_env(read_env(path), os.environ if environ is None else environ)
    if result.generated or result.from_environment or not path.exists():
        write_env(path, result.values)
    else:
        path.chmod(0o600)
    return result
