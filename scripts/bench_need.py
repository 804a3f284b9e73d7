#!/usr/bin/env python3
"""The routing hook's scoring cost per request: complexity factors plus the need model.

Renders tier 2's router into a temporary folder, imports its hook package's scoring and need
modules as the gateway does (the router folder on the path), and times, per request, what the
hook adds for scoring: the complexity factors and score, and the need model's probability
(hashing the words of the bounded text, summing the weights). Prompts of 1 KB, 8 KB and 1 MB
(only a bounded share of a long one is read). Prints p50/p95 in milliseconds (goal: p50 under
1 ms for 1 KB). Not measured: the rest of the hook (budgets in Redis, route choice; see
scripts/bench_hook.py).

Example: python scripts/bench_need.py --repetitions 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZES = {"1KB": 1024, "8KB": 8 * 1024, "1MB": 1024 * 1024}
TEXT = (
    "Our churn rose from 3% to 7% after the pricing change in March; compare the cohorts, "
    "explain which customers left and what we should test next quarter. "
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=2000)
    args = parser.parse_args()
    from hybridctl.catalog import load_catalog
    from hybridctl.render.router import build_router_context, write_router

    with tempfile.TemporaryDirectory() as folder:
        router = Path(folder)
        context = build_router_context(load_catalog(), "2", "hetzner")
        write_router(context, router)
        sys.path.insert(0, str(router))
        from hybrid_hook import need as hybrid_need
        from hybrid_hook import scoring as hybrid_scoring

        policy = json.loads((router / "hybrid_policy.json").read_text())
        model = hybrid_need.NeedModel.load(router / "hybrid_hook" / policy["need"]["model_file"])
        complexity = policy["complexity"]
        results = {}
        for label, size in SIZES.items():
            text = (TEXT * (size // len(TEXT) + 1))[:size]
            messages = [{"role": "user", "content": text}]
            timings = []
            repetitions = args.repetitions if size < 100_000 else max(50, args.repetitions // 20)
            for _ in range(repetitions):
                start = time.perf_counter()
                features = hybrid_scoring.request_features(
                    messages, complexity["long_request_chars"]
                )
                hybrid_scoring.complexity_score(features, complexity["weights"])
                model.need(hybrid_need.request_text(messages))
                timings.append((time.perf_counter() - start) * 1000)
            timings.sort()
            results[label] = {
                "n": repetitions,
                "p50_ms": round(timings[len(timings) // 2], 4),
                "p95_ms": round(timings[int(len(timings) * 0.95)], 4),
            }
    machine = platform.processor() or platform.machine()
    summary = {"machine": machine, "python": platform.python_version(), "scoring": results}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
