"""Shared helpers for the standalone bench's tests: a tiny model and a bench runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = [sys.executable, "-m", "hybridctl.bench"]
FAST = {"repetitions": 2, "prompt_tokens": 32, "gen_tokens": 8, "measure_bandwidth": False}


def bench_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYBRIDCTL_BENCH_FAULT"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_bench(
    tmp: Path, plan: dict[str, Any] | str, *extra_args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """`python -m hybridctl.bench run --plan` in a subprocess; returns the process and the JSON."""
    plan_path = tmp / "plan.json"
    plan_path.write_text(plan if isinstance(plan, str) else json.dumps(plan))
    out = tmp / "result.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(
        [*BENCH, "run", "--plan", str(plan_path), "--out", str(out), *extra_args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or bench_env(),
        cwd=tmp,
    )
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, result
