"""Start-up benchmark: `recommend` and `--help` against importing typer, rich and pydantic.

Each runs as a fresh process, interleaved, so a busy machine slows them alike and the
ratios stay comparable; `recommend --help` (loading the command, not running it) is shown
for reference. Goals (issue 11): recommend within 2x the baseline, --help within 1.5x.
The catalog cache is warmed first, as it is for a user's second command.

    python scripts/bench_startup.py [--runs 15] [--check]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import typer, rich, pydantic"]
GOALS = {"recommend": 2.0, "--help": 1.5}
RECOMMEND = ["recommend", "--requests-per-day", "5000", "--json"]
# hybridctl's CLI from the source tree given as argv[1] (for --against).
FROM_TREE = (
    "import sys; tree = sys.argv.pop(1); sys.path.insert(0, tree); sys.argv[0] = 'hybridctl'\n"
    "try:\n    from hybridctl.cli import main\n"  # the console script's entry point
    "except ImportError:\n    from hybridctl.cli.app import main\n"  # trees from before it
    "main()"
)


def _hybridctl() -> list[str]:
    exe = shutil.which("hybridctl", path=os.path.dirname(sys.executable)) or shutil.which(
        "hybridctl"
    )
    return [exe] if exe else [sys.executable, "-m", "hybridctl"]


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        info = ""
    for line in info.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def _label(name: str) -> str:
    if name == "baseline":
        return "import typer, rich, pydantic"
    if name.startswith("recommend") and not name.startswith("recommend --help"):
        name = name.replace("recommend", " ".join(RECOMMEND), 1)
    return f"hybridctl {name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (default 15)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="also time the same commands from another source tree (e.g. `git archive` of an "
        "older commit unpacked in DIR), in the same interleaved loop",
    )
    args = parser.parse_args()
    trees = {"": _hybridctl()}
    if args.against:
        tag = f" [{Path(args.against).resolve().name}]"
        trees[tag] = [sys.executable, "-c", FROM_TREE, args.against]
    commands = {"baseline": BASELINE}
    for tag, head in trees.items():
        commands[f"recommend{tag}"] = [*head, *RECOMMEND]
        commands[f"--help{tag}"] = [*head, "--help"]
        # Not a goal: loading the recommend command without running it (imports only).
        commands[f"recommend --help{tag}"] = [*head, "recommend", "--help"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HYBRIDCTL_CACHE_DIR": cache}
        # The warm-up writes hybridctl's .pyc files, as pip does on install (the baseline's
        # libraries have theirs); with this set, every run would compile hybridctl afresh.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for argv in commands.values():  # warm the page cache, .pyc files and catalog cache
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(_time(argv, env))
    base = statistics.median(times["baseline"])
    print(f"machine: {_cpu()}, {os.cpu_count()} CPUs")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}; load average {load:.1f}; {args.runs} runs each")
    labels = {name: _label(name) for name in commands}
    width = max(len(label) for label in labels.values())
    print(f"{'command (interleaved; medians)':<{width}} {'ms':>7} {'stdev':>6} {'ratio':>6} goal")
    missed = False
    for name, label in labels.items():
        median = statistics.median(times[name])
        spread = statistics.stdev(times[name]) if len(times[name]) > 1 else 0.0
        goal = GOALS.get(name)
        ratio = median / base
        missed |= goal is not None and ratio > goal
        goal_text = f"{goal:.1f}x" if goal else ""
        ms, stdev = median * 1000, spread * 1000
        print(f"{label:<{width}} {ms:>7.1f} {stdev:>6.1f} {ratio:>5.2f}x {goal_text}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
