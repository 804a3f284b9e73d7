"""The bench result's shape (RESULT.json), declared once for every module that builds or reads it.

Standard library only, like the rest of the bench. Every key is optional to a reader: a result
comes back from a file on a box, and an interrupted run or an older bench may lack some.
"""

from __future__ import annotations

from typing import Any, TypedDict


class BenchVerdict(TypedDict, total=False):
    """Whether the promises hold: every gap a shortfall line, what holds a note."""

    ok: bool
    shortfalls: list[str]
    notes: list[str]


class BenchResult(TypedDict, total=False):
    """A bench run's result: the tier's models on a machine, or (kind "box") a deployed box.

    A models bench (bench/runner.py) writes schema .. rows; a box bench (kind "box") writes
    deployment, tier, limits and models; `--deployment` adds the serving load test's report.
    Both carry settings, machine, not_measured and the one verdict.
    """

    schema: str
    started_at: str
    finished_at: str | None
    settings: dict[str, Any]
    method: str
    not_measured: list[str] | str
    machine: dict[str, Any]
    llama_cpp: dict[str, Any]
    bandwidth: dict[str, Any] | None  # the STREAM probe, when it ran
    rows: list[dict[str, Any]]  # one per model benched
    verdict: BenchVerdict
    # a box bench (ops/boxbench.py)
    kind: str
    deployment: str
    tier: str
    limits: dict[str, Any]
    models: list[dict[str, Any]]  # one per served model: measured beside predicted
    disturbed: list[str]
    # `bench --deployment`: the serving load test's report (bench/loadreport.py)
    serving: dict[str, Any]
