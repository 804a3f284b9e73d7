"""Run a bench plan here or on a box over SSH; a lost connection keeps what finished."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridctl.bench.result import BenchResult
from hybridctl.errors import OperationFailed


class BenchInterrupted(OperationFailed):
    """The connection to the box was lost mid-bench; `partial` holds the finished models."""

    def __init__(self, message: str, hint: str, partial: BenchResult | None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial


def partial_path() -> Path:
    """Where an interrupted bench's finished models are kept when --out is not given."""
    from hybridctl.paths import state_dir

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir() / "bench" / f"partial-{stamp}.json"


def run_plan(
    plan: dict[str, Any],
    ssh: Any,
    *,
    remote_python: str,
    install_deps: bool,
    out: Path | None,
    progress: Callable[[str], None],
) -> BenchResult:
    """The bench's result: run here when `ssh` is None, else on the box through it."""
    if ssh is None:
        from hybridctl.bench_host.local_run import run_local_bench

        return run_local_bench(plan, progress)
    from hybridctl.remote.bench import run_remote_bench

    run = run_remote_bench(
        ssh, plan, remote_python=remote_python, install_deps=install_deps, progress=progress
    )
    if not run.connection_lost:
        if run.result is None:
            raise OperationFailed(
                f"the bench on {run.target} produced no result: {run.stderr_tail[-500:]}",
                hint="Run it by hand on the box: python3 bench.pyz run --plan plan.json",
            )
        return run.result
    saved = out or partial_path()
    saved.parent.mkdir(parents=True, exist_ok=True)
    if run.result is not None:
        saved.write_text(json.dumps(run.result, indent=2) + "\n")
    done = ", ".join(run.completed_models) or "none"
    missing = ", ".join(run.missing_models) or "none"
    kept = f"; the finished models' results are saved in {saved}" if run.result else ""
    raise BenchInterrupted(
        f"the connection to {run.target} was lost during the bench (completed: {done}; "
        f"not completed: {missing}){kept}",
        hint=f"Check the box is reachable and run again. Its work directory {run.remote_dir} "
        "holds whatever the bench wrote there."
        + (f" Last output: {run.stderr_tail.splitlines()[-1]}" if run.stderr_tail else ""),
        partial=run.result,
    )
