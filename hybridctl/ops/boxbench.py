"""`bench --deployment` on a local box: its own model server's speed beside the plan's figure."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from typing import Any

from hybridctl.bench.result import BenchResult
from hybridctl.catalog.deployments import DeploymentRecord, deployment_dir
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.deploy.box.adapter import Box, box_for
from hybridctl.errors import InputError, OperationFailed
from hybridctl.stackfacts import MODELS_INI

LLM_SERVICE = "llm"
SERVER_URL = "http://127.0.0.1:8080"  # llama-server inside its container
BAND = 0.2  # measured within this fraction of the prediction: the plan holds on this box
WORD = " the"  # one token in every Llama-family vocabulary: a prompt of N of them is N tokens
REQUEST_TIMEOUT_S = 600


def server_limits(record: DeploymentRecord) -> dict[str, Any]:
    """The model server's CPU and memory limits and its threads, as the box was rendered."""
    import yaml

    bundle = deployment_dir(record.name) / "bundle"
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    limits = compose["services"][LLM_SERVICE].get("deploy", {}).get("resources", {})
    limits = limits.get("limits", {})
    threads = None
    for line in (bundle / MODELS_INI).read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "threads":
            threads = int(value)
    return {"cpus": float(limits.get("cpus", 0)) or None, "memory": limits.get("memory"),
            "threads": threads}  # fmt: skip


def _completion(runner: Box, model: str, prompt_tokens: int, gen_tokens: int) -> dict[str, Any]:
    """One /completion on the box's llama-server: its own timings (no proxy, no gateway)."""
    body = json.dumps(
        {
            "model": model,
            "prompt": WORD * prompt_tokens,
            "n_predict": gen_tokens,
            "ignore_eos": True,
            "cache_prompt": False,
            "temperature": 0,
        }
    )
    done = runner.compose(
        "exec", "-T", LLM_SERVICE, "curl", "-sS", "--max-time", str(REQUEST_TIMEOUT_S),
        "-H", "Content-Type: application/json", "--data-binary", "@-",
        f"{SERVER_URL}/completion",
        stdin=body.encode(), timeout=REQUEST_TIMEOUT_S + 30,
    )  # fmt: skip
    try:
        answer = json.loads(done.text)
        timings = answer["timings"]
        return {
            "prompt_n": int(timings["prompt_n"]),
            "prompt_tokens_per_s": float(timings["prompt_per_second"]),
            "predicted_n": int(timings["predicted_n"]),
            "tokens_per_s": float(timings["predicted_per_second"]),
        }
    except (ValueError, KeyError, TypeError):
        raise OperationFailed(
            f"the model server did not time {model}: {(done.text or done.error_text)[-300:]}",
            hint="Check that the box is up: hybridctl status NAME",
        ) from None


def _stats(values: list[float]) -> dict[str, float]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 2), "stddev": round(spread, 2)}


def measure_model(
    runner: Box,
    model: str,
    *,
    repetitions: int,
    prompt_tokens: int,
    gen_tokens: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Warm-up, then `repetitions` timed requests, one at a time."""
    progress(f"{model}: warm-up (loads the model if the router had unloaded it)")
    _completion(runner, model, prompt_tokens, min(gen_tokens, 8))
    runs = []
    for index in range(repetitions):
        run = _completion(runner, model, prompt_tokens, gen_tokens)
        progress(
            f"{model}: run {index + 1}/{repetitions}: tg {run['tokens_per_s']:.2f} tok/s "
            f"({run['predicted_n']} tokens), pp {run['prompt_tokens_per_s']:.1f} tok/s"
        )
        runs.append(run)
    return {
        "generation": _stats([r["tokens_per_s"] for r in runs]),
        "prompt": _stats([r["prompt_tokens_per_s"] for r in runs]),
        "runs": runs,
    }


def machine_bandwidth(threads: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """This machine's copy bandwidth on the server's thread count (the bench's own probe)."""
    from hybridctl.bench import bandwidth

    progress(f"memory bandwidth: copy probe on 1 and {threads} threads")
    found = bandwidth.measure(threads, available_mib=4096)
    found["gb_per_s"] = found["by_threads"][str(threads)]["gb_per_s"]
    return found


def processor() -> str:
    """This machine's processor, as /proc/cpuinfo names it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def judge(row: dict[str, Any]) -> tuple[bool, str]:
    """Whether a model's measured generation is within BAND of the plan's prediction."""
    predicted, measured = row["predicted_tokens_per_s"], row["measured_tokens_per_s"]
    ratio = measured / predicted
    line = (
        f"{row['name']}: measured {measured:.1f} tok/s, the plan predicts {predicted:.1f} "
        f"(x{ratio:.2f}; within {BAND:.0%} holds)"
    )
    return abs(ratio - 1) <= BAND, line


def bench_box(
    record: DeploymentRecord,
    catalog: Catalog,
    tier: Tier,
    *,
    repetitions: int,
    prompt_tokens: int,
    gen_tokens: int,
    progress: Callable[[str], None],
) -> BenchResult:
    """Every model the box serves, timed by its own server under its limits, beside the plan."""
    from hybridctl.deploy.compose.localfit import host_cpus
    from hybridctl.planning.speed import predict

    if tier.id != record.tier:
        raise InputError(
            f"deployment {record.name} serves tier {record.tier}, not {tier.id}",
            hint="Leave out --tier: the bench takes the deployment's.",
        )
    runner = box_for(record)
    limits = server_limits(record)
    cpus = host_cpus()
    threads = limits["threads"] or 1
    progress(
        f"{record.name}: timing its model server (llama-server) in its own container: "
        f"cpus {limits['cpus']}, memory {limits['memory']}, {threads} threads"
    )
    probe = machine_bandwidth(threads, progress)
    rows: list[dict[str, Any]] = []
    shortfalls: list[str] = []
    notes: list[str] = []
    disturbed: list[str] = []
    for entry in tier.models:
        before = os.getloadavg()[0]
        found = measure_model(
            runner, entry.model, repetitions=repetitions, prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens, progress=progress,
        )  # fmt: skip
        plan = predict(
            catalog, tier.id, entry.model, host_cpus=cpus, bandwidth_gbs=probe["gb_per_s"]
        )
        row = {
            "name": entry.model,
            "predicted_tokens_per_s": round(plan.generation_tokens_per_s, 2),
            "measured_tokens_per_s": found["generation"]["mean"],
            "measured_stddev": found["generation"]["stddev"],
            "predicted_prompt_tokens_per_s": round(plan.prompt_tokens_per_s, 1),
            "measured_prompt_tokens_per_s": found["prompt"]["mean"],
            "bound": plan.bound,
            "threads": plan.threads,
            "prediction": plan.detail,
            "runs": found["runs"],
            "load_average": [round(before, 2), round(os.getloadavg()[0], 2)],
        }
        # The server's own threads keep the load at about the core count while it decodes;
        # half a core more than that is other work (the bench's own calls stay under it)
        if max(row["load_average"]) > cpus + 0.5:
            disturbed.append(
                f"{entry.model}: the machine's load average was {max(row['load_average']):.1f} "
                f"on {cpus} CPUs during its runs: other work competed, run again on a quiet one"
            )
        row["ratio"] = round(row["measured_tokens_per_s"] / row["predicted_tokens_per_s"], 3)
        ok, line = judge(row)
        row["within_band"] = ok
        (notes if ok else shortfalls).append(line)
        rows.append(row)
    return {
        "kind": "box",
        "deployment": record.name,
        "tier": tier.id,
        "settings": {
            "repetitions": repetitions,
            "prompt_tokens": prompt_tokens,
            "gen_tokens": gen_tokens,
            "threads": threads,
        },
        "limits": limits,
        "machine": {
            "cpus": cpus,
            "processor": processor(),
            "bandwidth_gbs": probe["gb_per_s"],
            "bandwidth": probe,
        },
        "models": rows,
        "not_measured": "memory use (the limits are the rendered ones); prompt figures are "
        "shown but not judged",
        "disturbed": disturbed,
        "verdict": {"ok": not shortfalls, "shortfalls": shortfalls, "notes": notes},
    }
