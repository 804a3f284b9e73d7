"""Writing a bundle: atomic file writes, the manifest of hashes, and refusing to clobber edits."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError

MANIFEST = "hybridctl-manifest.json"
MANIFEST_FORMAT = 1


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write text to path through a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def manifest_text(meta: Mapping[str, Any], files: Mapping[str, str]) -> str:
    """The manifest: what was rendered from what, and the sha256 of every file (not .env)."""
    document = {
        "format": MANIFEST_FORMAT,
        "generator": "hybridctl render",
        **meta,
        "files": {path: sha256_text(files[path]) for path in sorted(files)},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def read_manifest(bundle: Path) -> dict[str, Any] | None:
    path = bundle / MANIFEST
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} is not valid JSON: {exc}",
            hint="Re-render the bundle with --force.",
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise InputError(f"{path} is not a hybridctl manifest", hint="Re-render with --force.")
    return document


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _relative_safe(path: str) -> None:
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts:
        raise ValueError(f"bundle path {path!r} escapes the bundle")


def write_files(
    out: Path, files: Mapping[str, str], meta: Mapping[str, Any], *, force: bool
) -> WriteReport:
    """Write every file (and the manifest) or none: refuse first if any would clobber a change.

    A file already there with different content is overwritten only with force; so is a file
    that an earlier render wrote but this one no longer renders (it is removed).
    """
    for path in files:
        _relative_safe(path)
    previous = read_manifest(out) if out.exists() else None
    stale = sorted(set(previous["files"]) - set(files)) if previous else []
    conflicts = []
    for path in sorted(files):
        target = out / path
        if target.is_dir():
            raise InputError(f"{target} is a directory; the bundle needs a file there")
        if target.exists() and target.read_text(errors="replace") != files[path]:
            conflicts.append(path)
    for path in stale:
        _relative_safe(path)
        if (out / path).exists():
            conflicts.append(f"{path} (no longer rendered)")
    if conflicts and not force:
        listing = "\n".join(f"  {name}" for name in conflicts)
        raise InputError(
            f"{out} has files that differ from what this render would write:\n{listing}",
            hint="Re-run with --force to overwrite them (edits there are lost), "
            "or render into a new --out folder.",
        )
    report = WriteReport()
    for path in sorted(files):
        target = out / path
        if target.exists() and target.read_text(errors="replace") == files[path]:
            report.unchanged.append(path)
            continue
        atomic_write(target, files[path])
        report.written.append(path)
    for path in stale:
        if (out / path).exists():
            (out / path).unlink()
            report.removed.append(path)
    manifest = manifest_text(meta, files)
    manifest_path = out / MANIFEST
    if not manifest_path.exists() or manifest_path.read_text(errors="replace") != manifest:
        atomic_write(manifest_path, manifest)
    return report
