"""The built wheel carries the catalog and templates, so hybridctl works from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_catalog_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("hybridctl-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "hybridctl/data/tiers.yaml" in names
    assert any(n.startswith("hybridctl/data/templates/") for n in names)
    assert not any(n.endswith(".gguf") for n in names)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);\n"
        "from hybridctl.paths import default_catalog_path, templates_dir\n"
        "from hybridctl.catalog import load_catalog\n"
        "assert str(default_catalog_path()).startswith(sys.argv[1]), default_catalog_path()\n"
        "assert templates_dir().is_dir() and str(templates_dir()).startswith(sys.argv[1])\n"
        "print(len(load_catalog().tiers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
