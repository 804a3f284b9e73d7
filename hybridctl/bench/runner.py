"""Run a plan: check memory, run each model in a child process, and judge the promises."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import bandwidth, defaults, download
from .footprint import estimate
from .ggufmeta import GGUFError, read_gguf
from .machine import default_threads, llama_cpp_info, machine_info
from .memory import machine_memory_mib
from .planfile import ModelEntry, Plan
from .result import BenchResult

SCHEMA = "hybridctl-bench/1"
METHOD = (
    "llama-bench style: per model one warm-up, then N repetitions of a prompt of random tokens "
    "decoded in batches (pp) and of single-token decode steps from an empty context (tg); KV "
    "cache cleared between repetitions; tokens/s from llama.cpp's own counters "
    "(llama_perf_context t_p_eval_ms / t_eval_ms); mean and sample stddev over repetitions."
)
NOT_MEASURED = [
    "tokenization and sampling (random token ids are decoded; no text is tokenized, no token "
    "is sampled), so the figures are an upper bound for a server's per-request speed",
    "prompt processing and generation in the same request (pp and tg are timed apart, as "
    "llama-bench does), and generation deep into a long context",
    "several requests at once (see `serve` for the concurrent load test)",
    "the HTTP server, the gateway and the network",
    "answer quality: models written by hybridctl's modelgen have random weights",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_command() -> list[str]:
    """How to start this bench again as a child, from a source tree or from the zipapp."""
    root = Path(__file__).resolve().parent.parent.parent
    flags = ["-I"] if sys.flags.isolated else []
    bootstrap = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from hybridctl.bench.cli import main; raise SystemExit(main(sys.argv[1:]))"
    )
    return [sys.executable, *flags, "-c", bootstrap, str(root)]


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "stddev": None, "samples": []}
    return {
        "mean": round(statistics.fmean(values), 3),
        "stddev": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
        "samples": [round(v, 3) for v in values],
    }


def _speeds(samples: list[dict[str, float]]) -> dict[str, Any]:
    counters = [s["tokens"] / s["ms"] * 1000 for s in samples if s["ms"] > 0]
    wall = [s["tokens"] / s["wall_s"] for s in samples if s["wall_s"] > 0]
    return {"tokens_per_s": _stats(counters), "wall_clock_tokens_per_s": _stats(wall)}


def _stderr_or_none() -> Any:
    """The child's stdout goes to our stderr: stdout may carry the result JSON."""
    try:
        sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # captured (e.g. in a test runner)
        return subprocess.DEVNULL
    return sys.stderr


def _run_child(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """One attempt in a fresh process; never raises for what the child does."""
    with tempfile.TemporaryDirectory(prefix="hybridctl-bench-") as tmp:
        spec_path, result_path = Path(tmp, "spec.json"), Path(tmp, "result.json")
        spec_path.write_text(json.dumps(spec))
        command = [*child_command(), "child", str(spec_path), str(result_path)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=_stderr_or_none(), timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return {
                "status": "error",
                "error": f"timed out after {timeout_s:g} s",
                "repack": spec["repack"],
            }
        elapsed = round(time.perf_counter() - started, 2)
        attempt: dict[str, Any] = {
            "repack": spec["repack"],
            "returncode": proc.returncode,
            "elapsed_s": elapsed,
        }
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            return {
                **attempt,
                "status": "crashed",
                "signal": name,
                "error": f"child killed by {name}",
            }
        if not result_path.exists():
            return {
                **attempt,
                "status": "error",
                "error": f"child exited {proc.returncode} without a result",
            }
        payload = json.loads(result_path.read_text())
        if not payload.pop("ok", False):
            return {**attempt, "status": "error", "error": payload.get("error", "unknown error")}
        return {**attempt, "status": "ok", "payload": payload}


def evict_from_page_cache(path: Path) -> bool:
    """Ask the kernel to drop the file's cached pages, so the load is a cold one (no root needed;
    pages other processes have mapped stay)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    with path.open("rb") as stream:
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return True


def _resolve(entry: ModelEntry, plan: Plan) -> Path:
    if entry.path and Path(entry.path).expanduser().exists():
        path = Path(entry.path).expanduser()
        if entry.sha256 and download.sha256_of(path) != entry.sha256:
            raise download.DownloadError(f"{path} does not match the plan's sha256")
        return path
    if entry.uri:
        models_dir = Path(plan.models_dir or defaults.MODELS_DIR)
        log(f"  fetching {entry.uri}")
        return download.fetch(entry.uri, models_dir.expanduser(), entry.sha256)
    raise FileNotFoundError(f"model file {entry.path} does not exist and the plan gives no uri")


def bench_model(
    entry: ModelEntry, plan: Plan, threads: int, bw: dict[str, Any] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": entry.name,
        "path": entry.path,
        "uri": entry.uri,
        "quantization": entry.quantization,
        "threads": threads,
        "batch_size": plan.batch_size,
        "ubatch_size": plan.ubatch_size,
        "context_tokens": plan.context_tokens,
        "repetitions": plan.repetitions,
    }
    try:
        path = _resolve(entry, plan)
        row["path"] = str(path)
        info = read_gguf(path)
    except (OSError, GGUFError, download.DownloadError) as exc:
        row.update(status="error", error=str(exc))
        return row
    row["file_size_bytes"] = info.file_size
    row["gguf"] = info.summary()
    row["quantization"] = entry.quantization or info.file_type
    row["parallel_slots"] = plan.parallel_slots
    row["flash_attn"], row["kv_type"] = plan.flash_attn, plan.kv_type
    estimates = {repack: _estimate(info, plan, repack) for repack in (True, False)}
    footprint = estimates[plan.repack]
    before = machine_memory_mib()
    row["memory"] = {
        "before": before,
        "estimate_mib": footprint.as_dict(),
        "budget_mib": entry.memory_budget_mib,
    }
    need = footprint.total_mib
    if need > before["available_mib"]:
        row.update(
            status="refused",
            error=(
                f"estimated footprint {need:.0f} MiB exceeds the {before['available_mib']:.0f} MiB "
                f"available (of {before['total_mib']:.0f} MiB); not loaded"
            ),
        )
        return row
    # The budget is what the tier's model server may hold for this model, so it is compared
    # with the model's own memory, without this Python process's interpreter and library.
    model_need = need - footprint.overhead_mib
    if entry.memory_budget_mib is not None and model_need > entry.memory_budget_mib:
        row.update(
            status="refused",
            error=(
                f"estimated footprint {model_need:.0f} MiB exceeds the memory budget "
                f"{entry.memory_budget_mib:g} MiB; not loaded"
            ),
        )
        return row

    spec = {
        "path": str(path),
        "threads": threads,
        "batch_size": plan.batch_size,
        "ubatch_size": plan.ubatch_size,
        "context_tokens": plan.context_tokens,
        "prompt_tokens": plan.prompt_tokens,
        "gen_tokens": plan.gen_tokens,
        "repetitions": plan.repetitions,
        "repack": True,
        "parallel_slots": plan.parallel_slots,
        "flash_attn": plan.flash_attn,
        "kv_type": plan.kv_type,
    }
    attempts = []
    row["cold_load"] = evict_from_page_cache(path)
    row["load_average_before"] = _load_average()
    for repack in (True, False) if plan.repack else (False,):
        log(f"  running in a child process (weight repacking {'on' if repack else 'off'})")
        attempt = _run_child({**spec, "repack": repack}, plan.timeout_s)
        attempts.append({k: v for k, v in attempt.items() if k != "payload"})
        if attempt["status"] != "crashed" or not repack:
            break
        log(f"  child crashed ({attempt['signal']}); retrying once without weight repacking")
    row["attempts"] = attempts
    final = attempt
    row["status"] = final["status"]
    row["repack"] = final["repack"]
    if final["status"] != "ok":
        row["error"] = final.get("error")
        row["signal"] = final.get("signal")
        return row
    payload = final["payload"]
    row["load_s"] = payload["load_s"]
    row["memory"].update(payload["memory"])
    row["model_bytes"] = payload["model_bytes"]
    row["model_params"] = payload["model_params"]
    row["model_desc"] = payload["model_desc"]
    row["prompt"] = {"tokens": plan.prompt_tokens, **_speeds(payload["samples"]["prompt"])}
    row["generation"] = {"tokens": plan.gen_tokens, **_speeds(payload["samples"]["generation"])}
    if payload["samples"].get("parallel"):
        row["parallel"] = {
            "slots": plan.parallel_slots,
            "tokens": plan.gen_tokens * plan.parallel_slots,
            **_speeds(payload["samples"]["parallel"]),
        }
    final_estimate = estimates[final["repack"]]
    row["memory"]["estimate_mib"] = final_estimate.as_dict()
    peak = row["memory"].get("peak_rss_mib")
    if peak is not None:
        row["memory"]["estimate_error_mib"] = round(final_estimate.total_mib - peak, 1)
    row["roofline"] = _roofline(row, threads, bw)
    row["load_average_after"] = _load_average()
    row["interference"] = interference(row)
    return row


def interference(row: dict[str, Any]) -> list[str]:
    """Signs that other work on the machine disturbed the figures: spread and load average."""
    flags = []
    for part in ("prompt", "generation", "parallel"):
        samples = (((row.get(part) or {}).get("tokens_per_s")) or {}).get("samples") or []
        mean = statistics.fmean(samples) if samples else 0
        if len(samples) > 1 and mean > 0:
            spread = (max(samples) - min(samples)) / mean
            if spread > defaults.MAX_SPREAD:
                flags.append(f"{part} spread {spread:.0%} (over {defaults.MAX_SPREAD:.0%})")
    load = row.get("load_average_before")
    cpus = os.cpu_count() or 1
    if load and load[0] > 0.5 * cpus:
        flags.append(f"load average {load[0]:.1f} on {cpus} CPUs before the run")
    return flags


def _estimate(info: Any, plan: Plan, repack: bool) -> Any:
    return estimate(
        info,
        plan.context_tokens,
        plan.ubatch_size,
        parallel_slots=plan.parallel_slots,
        repack=repack,
        flash_attn=plan.flash_attn is not False,
        kv_type=plan.kv_type,
        cpu_flags=set(machine_info().get("cpu_flags") or []) or None,
    )


def _load_average() -> list[float] | None:
    """Other work on the machine skews every figure; the 1/5/15-minute load says how much."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _roofline(row: dict[str, Any], threads: int, bw: dict[str, Any] | None) -> dict[str, Any]:
    """Generation reads every weight once per token: weight bytes x tokens/s vs bandwidth."""
    tps = row["generation"]["tokens_per_s"]["mean"]
    achieved = row["model_bytes"] * tps if tps else None
    result: dict[str, Any] = {
        "weight_bytes_per_token": row["model_bytes"],
        "achieved_bytes_per_s": round(achieved) if achieved else None,
        "achieved_gb_per_s": round(achieved / 1e9, 2) if achieved else None,
    }
    if bw:
        by_threads = bw["by_threads"]
        key = str(threads) if str(threads) in by_threads else max(by_threads, key=int)
        peak = by_threads[key]["bytes_per_s"]
        result.update(
            bandwidth_threads=int(key),
            bandwidth_gb_per_s=round(peak / 1e9, 2),
            fraction=round(achieved / peak, 3) if achieved else None,
            roofline_tokens_per_s=round(peak / row["model_bytes"], 2),
        )
    return result


def judge(row: dict[str, Any], entry: ModelEntry) -> dict[str, Any]:
    shortfalls = []
    verdict: dict[str, Any] = {
        "promised_tokens_per_s": entry.promised_tokens_per_s,
        "memory_budget_mib": entry.memory_budget_mib,
    }
    if row["status"] != "ok":
        shortfalls.append(f"{entry.name}: {row['status']}: {row.get('error')}")
    else:
        measured = row["generation"]["tokens_per_s"]["mean"]
        verdict["measured_tokens_per_s"] = measured
        if entry.promised_tokens_per_s is not None:
            gap = measured - entry.promised_tokens_per_s
            verdict["gap_tokens_per_s"] = round(gap, 2)
            if gap < 0:
                pct = 100 * gap / entry.promised_tokens_per_s
                shortfalls.append(
                    f"{entry.name}: generation {measured:.2f} tokens/s is below the promised "
                    f"{entry.promised_tokens_per_s:g} (gap {gap:.2f} tokens/s, {pct:.0f}%)"
                )
        memory = row["memory"]
        peak = memory.get("model_rss_mib") or memory.get("peak_rss_mib")
        verdict["peak_rss_mib"] = memory.get("peak_rss_mib")
        verdict["model_rss_mib"] = memory.get("model_rss_mib")
        if entry.memory_budget_mib is not None and peak is not None:
            headroom = entry.memory_budget_mib - peak
            verdict["memory_headroom_mib"] = round(headroom, 1)
            if headroom < 0:
                shortfalls.append(
                    f"{entry.name}: the model's peak memory {peak:.0f} MiB (process peak less "
                    f"the interpreter) exceeds the budget {entry.memory_budget_mib:g} MiB "
                    f"(over by {-headroom:.0f} MiB)"
                )
    verdict["ok"] = not shortfalls
    verdict["shortfalls"] = shortfalls
    return verdict


def run_plan(plan: Plan) -> BenchResult:
    """Bench every model of the plan; the result dict is RESULT.json."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for warning in plan.warnings:
        log(f"warning: {warning}")
    machine = machine_info()
    threads = plan.threads or default_threads()
    log(
        f"machine: {machine['cpu_model']}, {machine['logical_cpus']} CPUs, "
        f"{machine['ram_total_mib'] / 1024:.1f} GiB RAM, flags {' '.join(machine['cpu_flags'])}"
    )
    llama = llama_cpp_info()
    build = llama.get("system_info", llama.get("error"))
    log(f"llama-cpp-python {llama.get('llama_cpp_python', '?')}: {build}")
    bw = None
    if plan.measure_bandwidth:
        log("measuring memory bandwidth (STREAM Copy, 1 and all threads)")
        bw = bandwidth.measure(threads, machine_memory_mib()["available_mib"])
        log(
            "  "
            + ", ".join(f"{t} thread(s): {v['gb_per_s']} GB/s" for t, v in bw["by_threads"].items())
        )
    rows: list[dict[str, Any]] = []
    for index, entry in enumerate(plan.models, 1):
        log(f"[{index}/{len(plan.models)}] {entry.name}")
        if not llama.get("available"):
            row: dict[str, Any] = {
                "name": entry.name,
                "status": "error",
                "error": llama.get("error"),
            }
        else:
            row = bench_model(entry, plan, threads, bw)
        row["verdict"] = judge(row, entry)
        rows.append(row)
        log(f"  {summary_line(row)}")
    shortfalls = [s for row in rows for s in row["verdict"]["shortfalls"]]
    return {
        "schema": SCHEMA,
        "started_at": started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {**plan.settings(), "threads": threads},
        "method": METHOD,
        "not_measured": NOT_MEASURED,
        "machine": machine,
        "llama_cpp": llama,
        "bandwidth": bw,
        "rows": rows,
        "verdict": {"ok": not shortfalls, "shortfalls": shortfalls},
    }


def summary_line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status'].upper()}: {row.get('error')}"
    gen, pp = row["generation"]["tokens_per_s"], row["prompt"]["tokens_per_s"]
    text = f"tg {gen['mean']:.2f} ± {gen['stddev']:.2f} tokens/s"
    if pp["mean"] is not None:
        text += f", pp {pp['mean']:.1f} ± {pp['stddev']:.1f} tokens/s"
    text += f", load {row['load_s']:.2f} s, peak RSS {row['memory']['peak_rss_mib']:.0f} MiB"
    fraction = row["roofline"].get("fraction")
    if fraction is not None:
        text += f", {100 * fraction:.0f}% of the bandwidth roofline"
    if not row["repack"]:
        text += " (weight repacking off)"
    if row.get("load_average_before"):
        text += f"; machine load average {row['load_average_before'][0]:.1f}"
    if row.get("interference"):
        text += "; DISTURBED: " + ", ".join(row["interference"])
    return text
