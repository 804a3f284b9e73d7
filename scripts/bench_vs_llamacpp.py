#!/usr/bin/env python3
"""Our bench's generation speed beside llama.cpp's own llama-bench on the same file, as a ratio.

Both run on the same GGUF with the same threads, batch sizes and token counts, alternating in
rounds within one run of this script so that machine drift hits both alike. llama-bench is
built from the llama.cpp sources vendored in the llama-cpp-python sdist (same version as the
installed Python bindings) with the same flags (-DGGML_NATIVE=OFF); see docs/bench-core.md.

Example: python scripts/bench_vs_llamacpp.py --model .cache/models/tinyllama-1.1b-q4_k_m.gguf
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hybridctl.bench import bandwidth  # noqa: E402
from hybridctl.bench.machine import default_threads, llama_cpp_info, machine_info  # noqa: E402
from hybridctl.bench.memory import machine_memory_mib  # noqa: E402
from hybridctl.bench.planfile import parse_plan  # noqa: E402
from hybridctl.bench.runner import run_plan  # noqa: E402

DEFAULT_MODEL = REPO / ".cache" / "models" / "tinyllama-1.1b-q4_k_m.gguf"
DEFAULT_LLAMA_BENCH = REPO / ".cache" / "llamacpp-src" / "build" / "bin" / "llama-bench"


def ours(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    plan = parse_plan(
        {
            "models": [{"name": model.name, "path": str(model)}],
            "repetitions": args.repetitions,
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "threads": args.threads,
            "measure_bandwidth": False,
        }
    )
    row = run_plan(plan)["rows"][0]
    if row["status"] != "ok":
        raise SystemExit(f"our bench failed: {row['status']}: {row.get('error')}")
    return {
        "tg": row["generation"]["tokens_per_s"],
        "pp": row["prompt"]["tokens_per_s"],
        "repack": row["repack"],
        "model_bytes": row["model_bytes"],
        "peak_rss_mib": row["memory"]["peak_rss_mib"],
    }


def llama_bench(binary: Path, model: Path, args: argparse.Namespace, repack: bool) -> dict:
    command = [
        str(binary),
        "-m", str(model),
        "-t", str(args.threads),
        "-p", str(args.prompt_tokens),
        "-n", str(args.gen_tokens),
        "-r", str(args.repetitions),
        "-b", "2048",
        "-ub", "512",
        "--repack", "1" if repack else "0",
        "-o", "json",
    ]  # fmt: skip
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"llama-bench failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    results = json.loads(proc.stdout)
    found: dict[str, Any] = {"build": results[0].get("build_commit"), "command": command}
    for entry in results:
        key = "tg" if entry["n_gen"] else "pp"
        found[key] = {
            "mean": entry["avg_ts"],
            "stddev": entry["stddev_ts"],
            "samples": entry["samples_ts"],
        }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--llama-bench", type=Path, default=DEFAULT_LLAMA_BENCH)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="ours, theirs; repeated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    if not args.model.exists():
        print(
            f"{args.model} is missing; make it with: python scripts/make_model.py "
            f"--shape tinyllama-1.1b --quant Q4_K_M --out {args.model}",
            file=sys.stderr,
        )
        return 2
    binary = args.llama_bench if args.llama_bench.exists() else shutil.which("llama-bench")
    if not binary:
        print(
            f"llama-bench not found at {args.llama_bench}; see docs/bench-core.md", file=sys.stderr
        )
        return 2

    machine, llama = machine_info(), llama_cpp_info()
    load_before = os.getloadavg()
    bw = bandwidth.measure(args.threads, machine_memory_mib()["available_mib"])
    rounds = []
    for number in range(1, args.rounds + 1):
        print(f"round {number}/{args.rounds}: our bench", file=sys.stderr, flush=True)
        mine = ours(args.model, args)
        print(f"round {number}/{args.rounds}: llama-bench", file=sys.stderr, flush=True)
        theirs = llama_bench(Path(binary), args.model, args, repack=mine["repack"])
        rounds.append({"ours": mine, "llama_bench": theirs})

    def mean_of(side: str, phase: str) -> float:
        return statistics.fmean(r[side][phase]["mean"] for r in rounds)

    def samples_of(side: str, phase: str) -> list[float]:
        return [x for r in rounds for x in r[side][phase]["samples"]]

    tg_ours, tg_theirs = mean_of("ours", "tg"), mean_of("llama_bench", "tg")
    tg_median = (
        statistics.median(samples_of("ours", "tg")),
        statistics.median(samples_of("llama_bench", "tg")),
    )
    tg_best = (max(samples_of("ours", "tg")), max(samples_of("llama_bench", "tg")))
    pp_ours, pp_theirs = mean_of("ours", "pp"), mean_of("llama_bench", "pp")
    weight_bytes = rounds[0]["ours"]["model_bytes"]
    peak = bw["by_threads"][str(args.threads)]["bytes_per_s"]
    summary = {
        "model": str(args.model),
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "repetitions": args.repetitions,
        "rounds": rounds,
        "tg_ours": round(tg_ours, 2),
        "tg_llama_bench": round(tg_theirs, 2),
        "tg_ratio": round(tg_ours / tg_theirs, 3),
        "tg_median_ours_llama_bench": [round(x, 2) for x in tg_median],
        "tg_median_ratio": round(tg_median[0] / tg_median[1], 3),
        "tg_best_ours_llama_bench": [round(x, 2) for x in tg_best],
        "tg_best_ratio": round(tg_best[0] / tg_best[1], 3),
        "pp_ours": round(pp_ours, 2),
        "pp_llama_bench": round(pp_theirs, 2),
        "pp_ratio": round(pp_ours / pp_theirs, 3),
        "bandwidth_gb_per_s": round(peak / 1e9, 2),
        "roofline_fraction_ours": round(weight_bytes * tg_ours / peak, 3),
        "roofline_fraction_ours_best": round(weight_bytes * tg_best[0] / peak, 3),
        "roofline_fraction_llama_bench": round(weight_bytes * tg_theirs / peak, 3),
        "machine": {k: machine[k] for k in ("cpu_model", "logical_cpus", "cpu_flags")},
        "llama_cpp": {k: llama.get(k) for k in ("llama_cpp_python", "system_info")},
        "llama_bench_build": rounds[0]["llama_bench"]["build"],
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"model {args.model.name}: {weight_bytes / 2**20:.0f} MiB of weights, "
        f"threads {args.threads}, pp{args.prompt_tokens} tg{args.gen_tokens} "
        f"x{args.repetitions} reps x{args.rounds} rounds"
    )
    for number, r in enumerate(rounds, 1):
        mine, theirs = r["ours"], r["llama_bench"]
        print(
            f"  round {number}: tg ours {mine['tg']['mean']:.2f} ± {mine['tg']['stddev']:.2f}"
            f" | llama-bench {theirs['tg']['mean']:.2f} ± {theirs['tg']['stddev']:.2f}"
            f"   pp ours {mine['pp']['mean']:.1f} | llama-bench {theirs['pp']['mean']:.1f}"
        )
    print(
        f"generation tokens/s: ours {tg_ours:.2f}, llama-bench {tg_theirs:.2f}, "
        f"ratio {tg_ours / tg_theirs:.3f} (target 0.95-1.05)"
    )
    print(
        f"  median of all repetitions: ours {tg_median[0]:.2f}, llama-bench {tg_median[1]:.2f}, "
        f"ratio {summary['tg_median_ratio']:.3f}; best repetition: ours {tg_best[0]:.2f}, "
        f"llama-bench {tg_best[1]:.2f}, ratio {summary['tg_best_ratio']:.3f}"
    )
    print(
        f"prompt tokens/s:     ours {pp_ours:.1f}, llama-bench {pp_theirs:.1f}, "
        f"ratio {pp_ours / pp_theirs:.3f}"
    )
    print(
        f"memory bandwidth (STREAM Copy, {args.threads} threads): {peak / 1e9:.1f} GB/s; "
        f"generation reaches {100 * summary['roofline_fraction_ours']:.0f}% of that roofline "
        f"(llama-bench {100 * summary['roofline_fraction_llama_bench']:.0f}%; our best "
        f"repetition {100 * summary['roofline_fraction_ours_best']:.0f}%)"
    )
    load = summary["load_average_before_after"]
    print(
        f"machine load average (1 min) before/after: {load[0]} / {load[1]} on {os.cpu_count()} CPUs"
    )
    repack = "on" if rounds[0]["ours"]["repack"] else "off"
    print(
        f"llama-cpp-python {llama.get('llama_cpp_python')}; llama-bench build "
        f"{summary['llama_bench_build']}; weight repacking {repack} in both"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
