"""The validated catalog cached by content, so a second start skips YAML parsing and checks."""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hybridctl.catalog.schema import Catalog
from hybridctl.paths import cache_dir

_KEEP = 8  # cached catalogs kept (one per catalog version the user switched between)
_PACKAGE = Path(__file__).resolve().parent.parent


def _code_fingerprint() -> bytes:
    """What decides a catalog's validity besides its bytes: hybridctl's code and pydantic.

    Every module's size and modification time (an edit or an upgrade changes them), not its
    contents: stat-ing the package costs a fraction of reading it, on every start.
    """
    import pydantic

    digest = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}".encode())
    stack = [_PACKAGE]
    while stack:
        for entry in sorted(os.scandir(stack.pop()), key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith((".", "__pycache__")):
                stack.append(Path(entry.path))
            elif entry.name.endswith(".py"):
                info = entry.stat()
                digest.update(f"{entry.path}|{info.st_size}|{info.st_mtime_ns}\n".encode())
    return digest.digest()


def cache_key(raw: bytes) -> str:
    """A cache entry's name: the catalog's bytes and the code that validated them."""
    return hashlib.sha256(_code_fingerprint() + raw).hexdigest()[:32]


def _trusted(info: os.stat_result) -> bool:
    """Unpickle only the user's own file that no one else can write (a pickle runs code)."""
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def load_cached(path: Path, build: Callable[[Path], Catalog]) -> Catalog:
    """The catalog at path from the cache, or build(path) (which raises on an invalid one)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return build(path)  # build reports the unreadable file in its own words
    folder = cache_dir()
    entry = folder / f"catalog-{cache_key(raw)}.pickle"
    try:
        with entry.open("rb") as handle:
            if _trusted(os.fstat(handle.fileno())):
                cached = pickle.load(handle)
                if isinstance(cached, Catalog):
                    return cached
    except Exception:  # absent, truncated, or from another build: rebuild it
        pass
    catalog = build(path)
    _store(folder, entry, catalog)
    return catalog


def _store(folder: Path, entry: Path, catalog: Catalog) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".catalog-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(catalog, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        finally:
            Path(tmp).unlink(missing_ok=True)
        old = sorted(folder.glob("catalog-*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full cache only costs the next start its validation
