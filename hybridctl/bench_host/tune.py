"""`bench --tune`: sweep a tier's model-server settings on its model, pick the best, record it.

llama-bench style: every combination of a small grid (threads, parallel slots, batch and
micro-batch, flash attention, KV-cache type, weight repacking) that fits the tier's memory
budget at the tier's context, each run in its own child process with repetitions. The goal is
the tier's: the most aggregate tokens/s at its parallel slots while every stream still
generates at the promised speed. A run whose spread is over 5% is repeated once, then flagged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridctl.bench import defaults
from hybridctl.bench_host.tune_settings import (
    Grid,
    Setting,
    default_grid,
    default_setting,
    distance,
    fits_tier,
    model_need_mib,
)
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.errors import InputError

REQUEST_PROMPT_TOKENS = 256
REQUEST_ANSWER_TOKENS = 128
"""The reference request the goal is scored on: its prompt queues, its answer is batched."""
TUNE_TOKENS = (defaults.TUNE_REPETITIONS, defaults.TUNE_PROMPT_TOKENS, defaults.TUNE_GEN_TOKENS)
"""Repetitions, prompt and generated tokens of each setting's run."""


@dataclass
class Trial:
    setting: Setting
    status: str
    throughput: float | None = None
    stddev: float | None = None
    single_stream: float | None = None
    prompt: float | None = None
    per_stream: float | None = None
    score: float | None = None
    spread: float | None = None
    load_average: float | None = None
    attempts: int = 0
    flags: list[str] | None = None
    estimate_mib: float | None = None


def _metric(row: dict[str, Any]) -> tuple[float, float, list[float], float]:
    """Throughput (aggregate when parallel), its stddev, samples, and single-stream speed."""
    gen = row["generation"]["tokens_per_s"]
    part = (row.get("parallel") or {}).get("tokens_per_s") or gen
    return part["mean"], part["stddev"], part["samples"], gen["mean"]


def request_score(aggregate: float, prompt: float | None) -> float:
    """Answer tokens/s over back-to-back reference requests: prompts run one at a time
    (compute-bound), answers share the batched decode (aggregate tokens/s)."""
    seconds = REQUEST_ANSWER_TOKENS / aggregate
    if prompt:
        seconds += REQUEST_PROMPT_TOKENS / prompt
    return REQUEST_ANSWER_TOKENS / seconds


def run_trial(
    entry: Any,
    setting: Setting,
    tokens: tuple[int, int, int],
    progress: Callable[[str], None],
    timeout_s: float = defaults.TIMEOUT_S,
) -> Trial:
    """Bench one setting in a child process; repeat once when its spread is over MAX_SPREAD."""
    import os

    from hybridctl.bench.planfile import parse_plan
    from hybridctl.bench.runner import bench_model

    reps, prompt, gen = tokens
    raw = {
        "models": [asdict(entry)],
        "repetitions": reps,
        "prompt_tokens": prompt,
        "gen_tokens": gen,
        "threads": setting.threads,
        "batch_size": setting.batch_size,
        "ubatch_size": setting.ubatch_size,
        "parallel_slots": setting.parallel_slots,
        "flash_attn": setting.flash_attn,
        "kv_type": setting.kv_type,
        "repack": setting.repack,
        "measure_bandwidth": False,
        "timeout_s": max(30.0, timeout_s),  # a setting that stalls ends with the time budget
    }
    plan = parse_plan({k: v for k, v in raw.items() if v is not None or k == "flash_attn"})
    trial = Trial(setting, "error", flags=[])
    for attempt in (1, 2):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        row = bench_model(plan.models[0], plan, setting.threads, None)
        trial.attempts, trial.load_average = attempt, load
        if row.get("status") != "ok":
            trial.status = str(row.get("status"))
            trial.flags = [str(row.get("error"))]
            return trial
        if row.get("repack") != setting.repack:
            trial.flags = ["crashed with repacking; ran without"]
        mean, stddev, samples, single = _metric(row)
        spread = (max(samples) - min(samples)) / mean if mean and len(samples) > 1 else 0.0
        trial.status, trial.throughput, trial.stddev = "ok", mean, stddev
        trial.single_stream, trial.per_stream = single, mean / setting.parallel_slots
        trial.prompt = ((row.get("prompt") or {}).get("tokens_per_s") or {}).get("mean")
        trial.score = round(request_score(mean, trial.prompt), 3)
        trial.spread = round(spread, 3)
        if spread <= defaults.MAX_SPREAD:
            break
        progress(
            f"  spread {spread:.0%} over {defaults.MAX_SPREAD:.0%} (load {load}); repeating once"
        )
    if trial.spread is not None and trial.spread > defaults.MAX_SPREAD:
        trial.flags = [*(trial.flags or []), f"noisy: spread {trial.spread:.0%} after a repeat"]
    return trial


def choose(trials: list[Trial], promised: float | None) -> tuple[Trial | None, str]:
    """The best request score among settings where a lone request keeps the promised speed.

    Settings flagged noisy are passed over while a quiet one exists.
    """
    ok = [t for t in trials if t.status == "ok" and t.score]
    if not ok:
        return None, "every setting failed or was skipped (the table says why)"
    quiet = [t for t in ok if not any(f.startswith("noisy") for f in t.flags or [])] or ok
    feasible = [t for t in quiet if promised is None or (t.single_stream or 0) >= promised]
    if feasible:
        best = max(feasible, key=lambda t: t.score or 0)
        return best, (
            f"the most answer tokens/s for {REQUEST_PROMPT_TOKENS}+{REQUEST_ANSWER_TOKENS}-token "
            "requests back to back, a lone request at the promised speed"
        )
    best = max(quiet, key=lambda t: t.single_stream or 0)
    return best, "no setting reaches the promised speed for a lone request; the fastest wins"


def tune(
    catalog: Catalog,
    tier: Tier,
    entry: Any,
    *,
    grid: Grid | None = None,
    budget_s: float = defaults.TUNE_BUDGET_S,
    tokens: tuple[int, int, int] = TUNE_TOKENS,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Sweep, choose, and report tuned against default (the default setting runs first)."""
    from hybridctl.bench.ggufmeta import GGUFError, read_gguf
    from hybridctl.bench.machine import default_threads, machine_info

    if entry.path is None or not Path(entry.path).is_file():
        raise InputError("--tune needs a local model file", hint="Pass --model ID=PATH.")
    cpus = default_threads()
    default = default_setting(tier, min(cpus, max(1, int(tier.vcpu))))
    grid = grid or default_grid(tier, cpus)
    # Nearest the default first (one setting changed, then two, ...), so that a sweep cut short
    # by its time budget has still tried every single change.
    rest = sorted((s for s in grid.settings() if s != default), key=lambda s: distance(s, default))
    settings = [default, *rest]
    try:
        info = read_gguf(entry.path)
    except GGUFError as exc:
        raise InputError(f"--tune cannot read model file {entry.path}: {exc}") from None
    promised = next((m.promised_tokens_per_s for m in tier.models if m.model == entry.name), None)
    trials: list[Trial] = []
    started = time.monotonic()
    for index, setting in enumerate(settings, 1):
        need = model_need_mib(info, tier, setting)
        over = entry.memory_budget_mib is not None and need > entry.memory_budget_mib
        if over or not fits_tier(catalog, tier, setting):
            trials.append(Trial(setting, "over budget", estimate_mib=round(need), flags=[]))
            continue
        if time.monotonic() - started > budget_s and index > 1:
            trials.append(Trial(setting, "not run (time budget)", flags=[]))
            continue
        progress(f"[{index}/{len(settings)}] {setting.label()}")
        left = budget_s - (time.monotonic() - started)
        trial = run_trial(entry, setting, tokens, progress, timeout_s=left)
        trial.estimate_mib = round(need)
        trials.append(trial)
    best, why = choose(trials, promised)
    base = trials[0]
    final: dict[str, Any] | None = None
    if best is not None and best.setting != default:
        # Load on the machine drifts over a sweep: the verdict pairs the two back to back.
        progress("final comparison: the default and the best, back to back")
        pair = [run_trial(entry, s, tokens, progress) for s in (default, best.setting)]
        final = {"default": asdict(pair[0]), "best": asdict(pair[1])}
        if pair[0].score and pair[1].score:
            final["gain"] = round(pair[1].score / pair[0].score, 3)
    return {
        "tier": tier.id,
        "model": entry.name,
        "promised_tokens_per_s": promised,
        "memory_budget_mib": entry.memory_budget_mib,
        "machine": machine_info(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "elapsed_s": round(time.monotonic() - started, 1),
        "trials": [{**asdict(t), "label": t.setting.label()} for t in trials],
        "default": asdict(base),
        "best": asdict(best) if best else None,
        "why": why,
        "gain": round(best.score / base.score, 3) if best and best.score and base.score else None,
        "final": final,
    }


def tuning_fields(report: dict[str, Any], machine: str, command: str) -> dict[str, Any]:
    """The catalog's `tuning:` record of a tune report's choice."""
    best, base = report["best"], report["default"]
    final = report.get("final") or {}
    if final.get("gain"):
        best, base = final["best"], final["default"]
    setting = best["setting"]
    return {
        "threads": setting["threads"],
        "batch_size": setting["batch_size"],
        "ubatch_size": setting["ubatch_size"],
        "flash_attn": setting["flash_attn"],
        "kv_cache_type": setting["kv_type"],
        "repack": setting["repack"],
        "parallel_slots": setting["parallel_slots"],
        "tokens_per_s": round(best["score"], 2),
        "default_tokens_per_s": round(base["score"] or best["score"], 2),
        "machine": machine,
        "date": report["date"],
        "command": command,
    }


def tune_tier(
    catalog: Catalog,
    tier: Tier,
    model_files: list[Any],
    *,
    budget_s: float,
    catalog_path: Path | None,
    progress: Callable[[str], None],
    grid: Grid | None = None,
    tokens: tuple[int, int, int] = TUNE_TOKENS,
) -> dict[str, Any]:
    """Tune the first of the tier's models given as ID=PATH; record the choice in catalog_path."""
    from hybridctl.bench.planfile import ModelEntry
    from hybridctl.bench_host.plan_builder import build_plan

    if not any(getattr(f, "model_id", None) for f in model_files):
        raise InputError(
            "--tune needs a local copy of one of the tier's models",
            hint=f"Pass --model ID=PATH with one of: {', '.join(m.model for m in tier.models)}.",
        )
    plan = build_plan(catalog, tier, model_files)
    raw = next(m for m in plan["models"] if m.get("path"))
    entry = ModelEntry(**{k: raw.get(k) for k in ModelEntry.__dataclass_fields__})
    report = tune(
        catalog, tier, entry, grid=grid, budget_s=budget_s, tokens=tokens, progress=progress
    )
    report["recorded"] = None
    if catalog_path is not None and report["best"] is not None:
        from hybridctl.catalog.calibration_records import set_tier_tuning
        from hybridctl.catalog.measurements import machine_label, write_validated

        command = (
            f"hybridctl bench --tier {tier.id} --model {entry.name}=FILE --tune --update-catalog"
        )
        fields = tuning_fields(report, machine_label(report), command)
        write_validated(catalog_path, set_tier_tuning(catalog_path.read_text(), tier.id, fields))
        report["recorded"] = str(catalog_path)
    return report
