"""The catalog loader is strict (a boolean is not a number), reads bytes by line, checks the
user's own file, and caches a validated catalog by its content."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog, validate_catalog
from hybridctl.catalog.cache import load_cached
from hybridctl.catalog.schema import Catalog
from hybridctl.cli.app import app
from hybridctl.errors import CatalogError, InputError
from hybridctl.paths import CATALOG_ENV, cache_dir, default_catalog_path

runner = CliRunner()
SHIPPED = default_catalog_path().read_text(encoding="utf-8")
SCHEMA = Path(__file__).resolve().parent.parent / "hybridctl" / "catalog" / "schema.py"


def _write(tmp_path: Path, text: str, name: str = "tiers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _first(text: str, pattern: str) -> tuple[int, str]:
    """Line number and text of the first line matching pattern."""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return number, line
    raise AssertionError(pattern)


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("file_size_mb", "true", "got true"),
        ("parallel_slots", '"2"', "got '2'"),
        ("context_tokens", "2048.0", "got 2048.0"),
    ],
)
def test_a_wrong_type_is_refused_with_file_line_and_field(
    tmp_path: Path, field: str, value: str, got: str
) -> None:
    line, text = _first(SHIPPED, rf"^\s+{field}: ")
    lines = SHIPPED.splitlines(keepends=True)
    lines[line - 1] = text.split(":")[0] + f": {value}\n"
    path = _write(tmp_path, "".join(lines))
    with pytest.raises(CatalogError) as caught:
        validate_catalog(path)
    problems = "\n".join(caught.value.problems)
    assert f"{path}:{line}: " in problems and f".{field}: " in problems and got in problems


def test_the_schema_has_no_lax_number_or_flag() -> None:
    """Bare float/int/bool accept `true` and "12"; the schema uses Number, Integer, Flag."""
    source = SCHEMA.read_text()
    body = source[source.index("\nclass ") :]
    lax = re.findall(r"^\s+\w+: .*\b(?:float|int|bool)\b.*$", body, flags=re.M)
    assert not lax, lax


def test_undecodable_bytes_are_reported_by_line_and_column(tmp_path: Path) -> None:
    line, _ = _first(SHIPPED, r"^\s+name: ")
    lines = SHIPPED.encode().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].rstrip(b"\n") + b" # caf\xe9\n"
    path = tmp_path / "tiers.yaml"
    path.write_bytes(b"".join(lines))
    column = len(lines[line - 1]) - 1
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line}:{column}: byte 0xe9 is not UTF-8 text" in result.output
    assert "Traceback" not in result.output


def test_a_device_is_not_a_catalog_file() -> None:
    with pytest.raises(InputError, match="is not a regular file"):
        validate_catalog(Path(os.devnull))


def test_validate_checks_the_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _write(tmp_path, SHIPPED.replace("file_size_mb: 669", "file_size_mb: yes", 1))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2, result.output
    assert f"{here.resolve()}:" in result.output

    here.write_text(SHIPPED, encoding="utf-8")
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert f"ok {here.resolve()}:" in result.output


def test_validate_prefers_the_file_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "not: [a catalog")  # ./tiers.yaml, broken: must not be read
    named = _write(tmp_path, SHIPPED, "mine.yaml")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["validate", "mine.yaml"]).exit_code == 0
    monkeypatch.setenv(CATALOG_ENV, str(named))
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert str(named) in result.output


def test_the_cache_returns_the_validated_catalog_and_follows_edits(tmp_path: Path) -> None:
    path = _write(tmp_path, SHIPPED)
    built: list[Path] = []

    def build(p: Path) -> Catalog:
        built.append(p)
        return validate_catalog(p).catalog

    first = load_cached(path, build)
    again = load_cached(path, build)
    assert len(built) == 1 and again == first
    entries = list(cache_dir().glob("catalog-*.pickle"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o077 == 0

    path.write_text(SHIPPED.replace("file_size_mb: 669", "file_size_mb: 670", 1))
    edited = load_cached(path, build)
    assert len(built) == 2 and edited != first

    entries[0].write_bytes(b"not a pickle")  # a damaged entry is rebuilt, not trusted
    path.write_text(SHIPPED)
    assert load_cached(path, build) == first and len(built) == 3


def test_an_invalid_catalog_is_never_cached(tmp_path: Path) -> None:
    path = _write(tmp_path, SHIPPED.replace("file_size_mb: 669", "file_size_mb: true", 1))
    for _ in range(2):
        with pytest.raises(CatalogError):
            load_catalog(path)
    assert not list(cache_dir().glob("catalog-*.pickle"))


def test_a_cache_entry_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    path = _write(tmp_path, SHIPPED)
    built: list[Path] = []

    def build(p: Path) -> Catalog:
        built.append(p)
        return validate_catalog(p).catalog

    load_cached(path, build)
    (entry,) = cache_dir().glob("catalog-*.pickle")
    entry.chmod(0o666)
    load_cached(path, build)
    assert len(built) == 2  # rebuilt (and rewritten 0600), not unpickled
    assert entry.stat().st_mode & 0o077 == 0
