"""Fetch a model file over HTTP(S): resumable (.part + Range), checksum verified, progress shown."""

from __future__ import annotations

import hashlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(Exception):
    """The file could not be fetched or its checksum did not match."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK * 8):
            digest.update(block)
    return digest.hexdigest()


def target_path(uri: str, models_dir: Path) -> Path:
    name = Path(urllib.parse.urlparse(uri).path).name or "model.gguf"
    return models_dir / name


def fetch(uri: str, models_dir: Path, sha256: str | None, timeout_s: float = 60.0) -> Path:
    """Download `uri` into `models_dir` unless a verified copy is there; returns the file."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme not in ("https", "http"):
        raise DownloadError(f"refusing to download {uri!r}: only http(s) URIs are fetched")
    dest = target_path(uri, models_dir)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    models_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(uri, headers={"User-Agent": "hybridctl-bench"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if offset and response.status != 206:  # server ignored the range: start over
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length else None
            _copy(response, part, offset, total)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DownloadError(f"download of {uri} failed: {exc} (rerun to resume)") from exc
    if sha256 is not None:
        actual = sha256_of(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(f"checksum mismatch for {uri}: expected {sha256}, got {actual}")
    part.replace(dest)
    return dest


def _copy(response, part: Path, offset: int, total: int | None) -> None:  # type: ignore[no-untyped-def]
    done, last = offset, 0.0
    with part.open("ab" if offset else "wb") as out:
        while block := response.read(CHUNK):
            out.write(block)
            done += len(block)
            now = time.monotonic()
            if now - last > 2 or (total and done == total):
                last = now
                shown = f"{done / 2**20:.0f} MiB"
                if total:
                    shown += f" / {total / 2**20:.0f} MiB ({100 * done / total:.0f}%)"
                print(f"  downloading {part.name[:-5]}: {shown}", file=sys.stderr, flush=True)
