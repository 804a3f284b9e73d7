"""Fit the speed model's efficiencies from a bench result (one record per quantization family)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hybridctl.bench.result import BenchResult
from hybridctl.catalog.schema import SpeedEfficiency
from hybridctl.planning.speed import quant_family


@dataclass(frozen=True)
class RowFit:
    """What one benched model says about its family: the figures an efficiency is made of."""

    name: str
    family: str
    generation: float
    prompt_per_thread_b: float | None
    parallel_gain: float | None
    at_slots: int | None


def _mean(row: dict[str, Any], part: str) -> float | None:
    value = ((row.get(part) or {}).get("tokens_per_s") or {}).get("mean")
    return float(value) if value else None


def row_fit(row: dict[str, Any], bandwidth_bytes_per_s: float) -> RowFit | None:
    """One ok row's efficiencies; None when it has no generation figure or no quantization."""
    generation = _mean(row, "generation")
    # the file's own type: a stand-in for a catalog model is benched under the model's name
    quant = (row.get("gguf") or {}).get("file_type") or row.get("quantization")
    if row.get("status") != "ok" or not generation or not quant or not row.get("model_bytes"):
        return None
    prompt = _mean(row, "prompt")
    params_b = float(row.get("model_params") or 0) / 1e9
    threads = int(row.get("threads") or 1)
    aggregate = _mean(row, "parallel")
    slots = (row.get("parallel") or {}).get("slots")
    return RowFit(
        name=str(row.get("name")),
        family=quant_family(str(quant)),
        generation=generation * row["model_bytes"] / bandwidth_bytes_per_s,
        prompt_per_thread_b=prompt * params_b / threads if prompt and params_b else None,
        parallel_gain=aggregate / generation if aggregate else None,
        at_slots=int(slots) if aggregate and slots else None,
    )


def _bandwidth(result: BenchResult, threads: int) -> float | None:
    by_threads = ((result.get("bandwidth") or {}).get("by_threads")) or {}
    if not by_threads:
        return None
    key = str(threads) if str(threads) in by_threads else max(by_threads, key=int)
    return float(by_threads[key]["bytes_per_s"])


def _pooled(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def fit_efficiencies(
    result: BenchResult, *, machine: str, command: str, today: str | None = None
) -> tuple[list[SpeedEfficiency], list[str]]:
    """One efficiency per quantization family benched (its models pooled), and what was skipped.

    Needs the bandwidth probe: an efficiency is a fraction of the measured roofline.
    """
    settings = result.get("settings") or {}
    threads = int(settings.get("threads") or 1)
    bandwidth = _bandwidth(result, threads)
    if bandwidth is None:
        return [], ["no efficiency: the bench ran without its bandwidth probe"]
    fits: dict[str, list[RowFit]] = defaultdict(list)
    skipped = []
    for row in result.get("rows", []):
        fit = row_fit(row, bandwidth)
        if fit is None:
            skipped.append(f"{row.get('name')}: no efficiency ({row.get('status')})")
        else:
            fits[fit.family].append(fit)
    llama = result.get("llama_cpp") or {}
    version = str(llama.get("llama_cpp_python") or llama.get("version") or "unknown")
    date = today or datetime.now(UTC).strftime("%Y-%m-%d")
    records = []
    for family, group in fits.items():
        for fit in group:
            if fit.parallel_gain is not None and fit.parallel_gain < 1:
                # batching never lowers throughput on an idle CPU: the parallel phase met more
                # interference than the single stream did, so its figure describes the load
                skipped.append(
                    f"{fit.name}: parallel gain {fit.parallel_gain:.2f} is below 1 (other work "
                    "on the machine); not recorded"
                )
        group_gains = [f for f in group if f.parallel_gain is not None and f.parallel_gain >= 1]
        slots = {f.at_slots for f in group_gains if f.at_slots}
        records.append(
            SpeedEfficiency(
                quant_family=family,
                backend="cpu",
                generation=round(statistics.fmean(f.generation for f in group), 4),
                prompt_per_thread_b=_pooled([f.prompt_per_thread_b for f in group]),
                parallel_gain=_pooled([f.parallel_gain for f in group_gains])
                if len(slots) == 1
                else None,
                at_slots=slots.pop() if len(slots) == 1 else None,
                bandwidth_gbs=round(bandwidth / 1e9, 2),
                threads=threads,
                models=[f.name for f in group],
                machine=machine,
                llama_cpp=version,
                date=date,
                command=command,
            )
        )
    return records, skipped
