"""Start-up benchmark: `hybridctl recommend` against importing its three libraries, one run."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

BASELINE = [sys.executable, "-c", "import typer, rich, pydantic"]


def _command() -> list[str]:
    exe = shutil.which("hybridctl")
    head = [exe] if exe else [sys.executable, "-m", "hybridctl"]
    return [*head, "recommend", "--requests-per-day", "5000", "--json"]


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (default 15)")
    args = parser.parse_args()
    command = _command()
    _time(command), _time(BASELINE)  # warm the page cache and .pyc files
    ours, base = [], []
    for _ in range(args.runs):  # interleaved, so drift on a shared machine hits both alike
        ours.append(_time(command))
        base.append(_time(BASELINE))
    ours_median, base_median = statistics.median(ours), statistics.median(base)
    print(f"command:  {' '.join(command[-5:])}  ({args.runs} runs each, interleaved)")
    print(f"hybridctl recommend         median {ours_median * 1000:7.1f} ms")
    print(f"import typer, rich, pydantic median {base_median * 1000:7.1f} ms")
    print(f"ratio {ours_median / base_median:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
