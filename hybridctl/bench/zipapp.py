"""Build bench.pyz: the bench package alone in a zipapp, to copy to a box and run with python3."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SHEBANG = b"#!/usr/bin/env python3\n"
ROOT_INIT = '"""hybridctl (only the standalone bench is in this zipapp)."""\n'
MAIN = (
    '"""Entry point of bench.pyz."""\n'
    "from hybridctl.bench.cli import main\n\n"
    "raise SystemExit(main())\n"
)
_FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # same inputs, same bytes


def _add(archive: zipfile.ZipFile, name: str, data: str | bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def build(dest: Path) -> Path:
    """Write the zipapp to `dest` (a file, or a directory to hold bench.pyz); returns its path."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / "bench.pyz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(SHEBANG)
        with zipfile.ZipFile(out, "w") as archive:
            _add(archive, "__main__.py", MAIN)
            _add(archive, "hybridctl/__init__.py", ROOT_INIT)
            for source in sorted(PACKAGE_DIR.glob("*.py")):
                _add(archive, f"hybridctl/bench/{source.name}", source.read_bytes())
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.replace(dest)
    return dest
