#!/usr/bin/env python3
"""Calibrate the speed model on this machine and print predicted against measured figures.

Run 1 benches three generated models (TinyLlama-shaped Q4_K_M, 7B-shaped TQ2_0 and Q4_K_M)
and fits one efficiency per quantization family (the Q4_K family pools both Q4_K_M models);
run 2 benches them again and compares what those efficiencies predict with what it measures:
generation single stream and at the parallel slots, and prompt speed. A third, short run with
weight repacking on gives the memory estimate against the measured peak with repacking on
(runs 1-2 have it off, as the rendered server does by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridctl.bench_host.local_run import run_local_bench  # noqa: E402
from hybridctl.catalog.calibration_records import insert_efficiency  # noqa: E402
from hybridctl.catalog.measurements import machine_label, write_validated  # noqa: E402
from hybridctl.planning.calibration import fit_efficiencies  # noqa: E402
from hybridctl.planning.speed import derive, quant_family  # noqa: E402
from hybridctl.testing.modelgen import SHAPES, write_model  # noqa: E402

MODELS = (
    ("tinyllama-1.1b-q4_k_m", "tinyllama-1.1b", "Q4_K_M"),
    ("mistral-7b-tq2_0", "mistral-7b", "TQ2_0"),
    ("mistral-7b-q4_k_m", "mistral-7b", "Q4_K_M"),
)
GOAL = 0.20


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_models(models_dir: Path, names: list[str] | None = None) -> list[tuple[str, Path, str]]:
    """The generated files, written (random weights, real shapes) when missing."""
    found = []
    for name, shape, quant in MODELS:
        if names and name not in names:
            continue
        path = models_dir / f"{name}.gguf"
        if not path.exists():
            log(f"writing {path} ({shape} as {quant}); a 7B file takes a few minutes")
            write_model(path, SHAPES[shape], quant)
        found.append((name, path, quant))
    return found


def plan(models: list[tuple[str, Path, str]], args: argparse.Namespace, **extra: Any) -> dict:
    return {
        "models": [{"name": n, "path": str(p), "quantization": q} for n, p, q in models],
        "repetitions": args.repetitions,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "threads": args.threads,
        "parallel_slots": args.slots,
        "repack": False,
        **extra,
    }


def _mean_sd(row: dict, part: str) -> tuple[float | None, float | None]:
    figures = ((row.get(part) or {}).get("tokens_per_s")) or {}
    return figures.get("mean"), figures.get("stddev")


def fastest_repetition(run: dict) -> dict:
    """The run with each figure's mean replaced by its fastest repetition (--statistic fastest),
    the one other work on the machine may have touched least."""
    copy = json.loads(json.dumps(run))
    for row in copy.get("rows", []):
        for part in ("prompt", "generation", "parallel"):
            figures = (row.get(part) or {}).get("tokens_per_s") or {}
            if figures.get("samples"):
                figures["all_mean"] = figures["mean"]
                figures["mean"] = max(figures["samples"])
    return copy


def compare(run: dict, efficiencies: dict[str, Any], bandwidth_gbs: float) -> list[dict]:
    """One table row per model and figure: predicted, measured, error."""
    table = []
    threads = int(run["settings"]["threads"])
    for row in run["rows"]:
        if row.get("status") != "ok":
            table.append({"model": row["name"], "figure": "all", "error": row.get("error")})
            continue
        eff = efficiencies.get(quant_family(row["quantization"]))
        if eff is None:
            continue
        slots = int((row.get("parallel") or {}).get("slots") or 1)
        predicted = derive(
            eff,
            bytes_per_token=row["model_bytes"],
            parameters_b=row["model_params"] / 1e9,
            bandwidth_gbs=bandwidth_gbs,
            threads=threads,
            slots=slots,
        )
        for figure, part, value in (
            ("generation, 1 stream", "generation", predicted.generation),
            (f"generation, {slots} slots (all)", "parallel", predicted.aggregate),
            ("prompt", "prompt", predicted.prompt),
        ):
            mean, sd = _mean_sd(row, part)
            if mean is None or value is None:
                continue
            table.append(
                {
                    "model": row["name"],
                    "figure": figure,
                    "predicted": round(value, 2),
                    "measured": round(mean, 2),
                    "stddev": round(sd or 0, 2),
                    "error_pct": round(100 * (value - mean) / mean, 1),
                }
            )
    return table


def memory_rows(run: dict) -> list[dict]:
    rows = []
    for row in run["rows"]:
        memory = row.get("memory") or {}
        if row.get("status") != "ok" or memory.get("peak_rss_mib") is None:
            continue
        estimate = memory["estimate_mib"]
        rows.append(
            {
                "model": row["name"],
                "repack": row["repack"],
                "estimate_mib": estimate["total_mib"],
                "repack_mib": estimate.get("repack_mib", 0),
                "peak_rss_mib": memory["peak_rss_mib"],
                "error_mib": round(estimate["total_mib"] - memory["peak_rss_mib"], 1),
            }
        )
    return rows


def print_tables(speed: list[dict], memory: list[dict], efficiencies: dict) -> None:
    print("efficiencies (run 1):")
    for family, eff in efficiencies.items():
        print(
            f"  {family}: generation {eff.generation:.3f} of {eff.bandwidth_gbs:g} GB/s, prompt "
            f"{eff.prompt_per_thread_b} tok/s x B/thread, gain {eff.parallel_gain} at "
            f"{eff.at_slots} slots ({', '.join(eff.models)})"
        )
    print(f"\n{'model':24} {'figure':28} {'predicted':>10} {'measured':>16} {'error':>8}")
    for r in speed:
        if "predicted" not in r:
            print(f"{r['model']:24} {r['figure']:28} {r.get('error')}")
            continue
        measured = f"{r['measured']:.2f} ± {r['stddev']:.2f}"
        flag = "" if abs(r["error_pct"]) <= 100 * GOAL else "  (over ±20%)"
        print(
            f"{r['model']:24} {r['figure']:28} {r['predicted']:>10.2f} {measured:>16} "
            f"{r['error_pct']:>+7.1f}%{flag}"
        )
    print(f"\n{'model':24} {'repack':>6} {'estimate MiB':>13} {'peak MiB':>9} {'error':>8}")
    for r in memory:
        print(
            f"{r['model']:24} {r['repack']!s:>6} {r['estimate_mib']:>13.1f} "
            f"{r['peak_rss_mib']:>9.1f} {r['error_mib']:>+8.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".cache" / "models")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--gen-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--slots", type=int, default=2, help="parallel slots (the tiers' 2)")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=[name for name, _, _ in MODELS],
        help="bench only these (default: all three; a 7B file at one thread takes minutes)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--statistic",
        choices=("mean", "fastest"),
        default="mean",
        help="fit and compare the mean of the repetitions (default) or the fastest one",
    )
    parser.add_argument(
        "--from-json", type=Path, help="recompute the tables from an earlier --json file"
    )
    parser.add_argument(
        "--record", type=Path, metavar="CATALOG", help="write run 1's efficiencies into CATALOG"
    )
    args = parser.parse_args(argv)

    if args.from_json:
        first, second, third = json.loads(args.from_json.read_text())["runs"]
    else:
        first, second, third = bench_runs(args)
    pick = fastest_repetition if args.statistic == "fastest" else (lambda run: run)
    settings = first["settings"]
    command = (
        f"python scripts/calibrate_speed.py --threads {settings['threads']} --repetitions "
        f"{settings['repetitions']} --prompt-tokens {settings['prompt_tokens']} --gen-tokens "
        f"{settings['gen_tokens']} --slots {settings['parallel_slots']} "
        f"--statistic {args.statistic}"
        + (f" --models {' '.join(args.models)}" if args.models else "")
    )
    fitted, skipped = fit_efficiencies(pick(first), machine=machine_label(first), command=command)
    for reason in skipped:
        log(f"  {reason}")
    efficiencies = {e.quant_family: e for e in fitted}
    bandwidth = next(iter(efficiencies.values())).bandwidth_gbs if efficiencies else 0.0
    speed = compare(pick(second), efficiencies, bandwidth)
    memory = memory_rows(second) + memory_rows(third)
    load = [row.get("load_average_before") for row in first["rows"] + second["rows"]]
    print(f"machine: {machine_label(first)}; load averages before each model: {load}")
    print(f"statistic: {args.statistic} of {first['settings']['repetitions']} repetitions")
    print_tables(speed, memory, efficiencies)
    if args.json:
        payload = {
            "efficiencies": [e.model_dump(mode="json") for e in fitted],
            "speed": speed,
            "memory": memory,
            "runs": [first, second, third],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.record:
        text = args.record.read_text()
        for record in fitted:
            text = insert_efficiency(text, record.model_dump(mode="json"))
        write_validated(args.record, text)
        log(f"recorded {', '.join(efficiencies)} efficiencies in {args.record}")
    misses = [r for r in speed if "error_pct" in r and abs(r["error_pct"]) > 100 * GOAL]
    return 1 if misses or not speed else 0


def bench_runs(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    models = ensure_models(args.models_dir, args.models)
    log("run 1 (calibration)")
    first = run_local_bench(plan(models, args), log)
    log("run 2 (validation)")
    second = run_local_bench(plan(models, args, measure_bandwidth=False), log)
    log("run 3 (memory with weight repacking on)")
    third = run_local_bench(
        plan(models, args, repack=True, repetitions=1, measure_bandwidth=False), log
    )
    return first, second, third


if __name__ == "__main__":
    raise SystemExit(main())
