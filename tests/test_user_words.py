"""Words a user can follow: no output, help, doc or printed catalog text names an internal doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.cli.app import app
from hybridctl.paths import default_catalog_path

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
# "seed 003", "(000)", "(002, Tier 1)", "tier guide (000)"; not "1,000", "$0.004" or test names
INTERNAL = re.compile(
    r"\bseeds?[ -]+0\d\d|\bseeds/|\((?:00[0-4])[,)]|(?<![\w,.$])00[0-4](?![\w])", re.I
)
# docs/design.md is the internal design record, the one page that may name the documents.
SKIPPED_DOCS = {"design.md"}


def _found(text: str) -> list[str]:
    return [m.group(0) for m in INTERNAL.finditer(text)]


def test_the_pattern_catches_document_numbers_and_spares_quantities() -> None:
    assert _found("per seed 003; tier guide (000), model registry (004); (002, Tier 1)") == [
        "seed 003", "(000)", "(004)", "(002,",
    ]  # fmt: skip
    assert _found("1,000 requests, $0.003 a token, test_seed_003_scale, 100000") == []


def _printed_catalog_text() -> str:
    return default_catalog_path().read_text(encoding="utf-8")


def test_the_catalog_names_documents_by_their_titles() -> None:
    assert _found(_printed_catalog_text()) == []


@pytest.mark.parametrize(
    "doc",
    [
        *sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name not in SKIPPED_DOCS),
        "../README.md",
    ],
)
def test_docs_name_documents_by_their_titles(doc: str) -> None:
    assert _found((ROOT / "docs" / doc).read_text(encoding="utf-8")) == [], doc


@pytest.mark.parametrize(
    "args",
    [
        ["tiers"],
        ["models"],
        ["validate"],
        ["recommend", "--requests-per-day", "300"],
        ["recommend", "--requests-per-day", "50000", "--json"],
        ["recommend", "--help"],
        ["tiers", "--json"],
        ["cost", "--help"],
    ],
)
def test_planning_output_and_help_name_documents_by_their_titles(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _found(result.output) == [], args


def test_recommend_ends_with_the_next_step() -> None:
    result = runner.invoke(app, ["recommend", "--requests-per-day", "300"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Next: ")
    assert "hybridctl deploy --tier" in last or "stay on the cloud" in last
