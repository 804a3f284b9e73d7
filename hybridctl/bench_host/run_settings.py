"""The bench plan from `hybridctl bench`'s options."""

from __future__ import annotations

from typing import Any


def bench_plan(
    cat: Any,
    tier: Any,
    files: list[Any],
    repetitions: int,
    prompt_tokens: int,
    gen_tokens: int,
    threads: int | None,
    skip_bandwidth: bool,
) -> dict[str, Any]:
    """The plan for a tier's models and/or model files; no bandwidth probe if skipped."""
    from hybridctl.bench_host.benchplan import build_plan

    plan = build_plan(
        cat,
        tier,
        files,
        repetitions=repetitions,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        threads=threads,
    )
    if skip_bandwidth:
        plan["measure_bandwidth"] = False
    return plan
