"""The passphrase of Pulumi's passphrase secrets provider: from the environment, or kept 0600."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from hybridctl.errors import InputError
from hybridctl.paths import state_dir

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"


@dataclass(frozen=True)
class Passphrase:
    """The passphrase and where it came from (the value is never shown)."""

    value: str
    source: str
    created: bool = False

    def __repr__(self) -> str:
        return f"Passphrase(source={self.source!r}, created={self.created})"


def passphrase_file() -> Path:
    return state_dir() / "pulumi-passphrase"


def load_passphrase(*, create: bool = True) -> Passphrase:
    """$PULUMI_CONFIG_PASSPHRASE, $PULUMI_CONFIG_PASSPHRASE_FILE, or the state dir's 0600 file.

    With create=True a missing file is generated once (32 random bytes, URL-safe) so that a
    first deploy needs no setup; losing it means losing access to the stacks' secrets.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return Passphrase(value, f"${PASSPHRASE_ENV}")
    named = os.environ.get(PASSPHRASE_FILE_ENV)
    path = Path(named) if named else passphrase_file()
    if path.is_file():
        if path.stat().st_mode & 0o077:
            raise InputError(
                f"the passphrase file {path} is readable by other users",
                hint=f"Run: chmod 600 {path}",
            )
        return Passphrase(path.read_text().strip(), str(path))
    if named or not create:
        raise InputError(
            f"no Pulumi passphrase: {path} does not exist and ${PASSPHRASE_ENV} is not set",
            hint=f"export {PASSPHRASE_ENV}=... (the one used when the stack was created).",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return Passphrase(value, str(path), created=True)
