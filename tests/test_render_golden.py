"""Golden bundles: the exact bytes rendered for tiers 1 and 4 (HYBRIDCTL_UPDATE_GOLDEN=1 rewrites).

The router's own files (router/, owned by the router module and tested there) are left out, so
these goldens pin what the render engine and its templates write. Secrets live only in .env,
which is never part of a golden.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from hybridctl.render import bundle as bundle_module
from tests.render_fixtures import bundle_texts, render

GOLDEN = Path(__file__).parent / "golden" / "render"
UPDATE_ENV = "HYBRIDCTL_UPDATE_GOLDEN"


_ARCHIVE = re.compile(r"^(    content: )([A-Za-z0-9+/=]{200,})$", re.MULTILINE)


def _describe_archive(match: re.Match[str]) -> str:
    """The archive as its members and their hashes: compressed bytes may vary by xz build."""
    raw = base64.b64decode(match.group(2))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = [
            f"{m.name} {m.mode:o} {hashlib.sha256(tar.extractfile(m).read()).hexdigest()}"  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]
    return match.group(1) + "<tar.xz: " + "; ".join(members) + ">"


def _normalized(files: dict[str, bytes]) -> dict[str, bytes]:
    if "cloud-init.yaml" in files:
        text = _ARCHIVE.sub(_describe_archive, files["cloud-init.yaml"].decode())
        files = {**files, "cloud-init.yaml": text.encode()}
        manifest = json.loads(files["hybridctl-manifest.json"])
        manifest["files"]["cloud-init.yaml"] = (
            "<sha256 of compressed bytes: may vary with the xz build>"
        )
        files["hybridctl-manifest.json"] = (
            json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        ).encode()
    return files


@pytest.mark.parametrize("tier_id", ["1", "4"])
def test_bundle_matches_golden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tier_id: str
) -> None:
    monkeypatch.setattr(bundle_module, "_router_context", lambda catalog, ctx, options: None)
    monkeypatch.setattr(bundle_module, "_router_templates", lambda root: [])
    out = tmp_path / "bundle"
    render(out, tier_id, provider="aws" if tier_id == "4" else "hetzner")
    actual = _normalized(bundle_texts(out))
    golden = GOLDEN / f"tier-{tier_id}"
    if os.environ.get(UPDATE_ENV):
        shutil.rmtree(golden, ignore_errors=True)
        for name, data in actual.items():
            (golden / name).parent.mkdir(parents=True, exist_ok=True)
            (golden / name).write_bytes(data)
    expected = bundle_texts(golden)
    assert expected, f"no golden files in {golden}; run with {UPDATE_ENV}=1 to create them"
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs from {golden / name}"
