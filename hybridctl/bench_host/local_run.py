"""Run the standalone bench on this machine in a child process, streaming its progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.bench import defaults
from hybridctl.bench.result import BenchResult
from hybridctl.errors import InputError


def run_local_bench(
    plan: dict[str, Any],
    progress: Callable[[str], None],
    *,
    timeout_s: float = defaults.LOCAL_RUN_TIMEOUT_S,
) -> BenchResult:
    """Run `python -m hybridctl.bench run` on this machine in a child process, streaming progress.

    The bench runs in its own process (it starts one more per model), so a crash in llama.cpp
    is the bench's to report, never this CLI's death.
    """
    import json
    import os
    import subprocess
    import sys
    import tempfile

    import hybridctl
    from hybridctl.errors import OperationFailed
    from hybridctl.extras import require_extra

    require_extra("bench")  # the child imports llama_cpp: say what to install, not "falls short"
    package_root = str(Path(hybridctl.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="hybridctl-bench-") as tmp:
        plan_path, out_path = Path(tmp, "plan.json"), Path(tmp, "result.json")
        plan_path.write_text(json.dumps(plan, indent=2))
        command = [sys.executable, "-m", "hybridctl.bench", "run", "--plan", str(plan_path)]
        command += ["--out", str(out_path)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
        )
        tail: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip("\n")
            tail = [*tail[-20:], line]
            progress(line)
        code = process.wait(timeout=timeout_s)
        if code == 2:
            raise InputError(f"the bench refused the plan: {' | '.join(tail[-3:])}")
        if code not in (0, 1) or not out_path.exists():
            raise OperationFailed(
                f"the bench exited with {code} and no result: {' | '.join(tail[-5:])}",
                hint="Run `python -m hybridctl.bench run --plan PLAN.json` to see all its output.",
            )
        result: BenchResult = json.loads(out_path.read_text())
    return result
