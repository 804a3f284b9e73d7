#!/usr/bin/env python3
"""Serving-path benchmark: the TLS proxy and gateway against llama-server directly, one run.

Boots the tier's stack under Docker Compose (`hybridctl deploy --provider local`), then drives
all three paths from one load container attached to the stack's internal and edge networks:
llama-server directly, the LiteLLM gateway over plain HTTP, and the full path (Caddy TLS ->
gateway -> llama-server). Paths alternate within each round (order reversed every other round)
at concurrency 1 and at the tier's parallel slots, so drift on a shared machine hits them
alike. Memory comes from `docker stats`: idle, peak under load, idle after.

Not measured: streaming (time to first token), cloud routes, TLS handshakes (connections are
kept alive; the handshake time is printed apart), a real box of the tier's RAM (memory is each
container's own use), and the load generator shares this machine's CPUs with the stack.

Example: python scripts/bench_serving.py --tier 1 --requests 12 --rounds 4 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hybridctl.catalog import load_catalog  # noqa: E402
from hybridctl.render.context import GATEWAY_PORT, LLM_PORT  # noqa: E402

NAME = "bench-serving"
HTTPS_PORT, HTTP_PORT = 28443, 28080
LOAD_CONTAINER = f"{NAME}-load"
LOAD_LABEL = "hybridctl.bench=serving"
LOAD_SCRIPT = Path(__file__).resolve().with_name("bench_serving_load.py")
MODELS_DIR = REPO / ".cache" / "models"
MODEL_FILES = {"tinyllama-1.1b-chat-q4_k_m": "tinyllama-1.1b-q4_k_m.gguf"}  # shared cache names
GOAL_RATIO, GOAL_P50_MS = 0.90, 30.0
MIB = {"b": 1 / 2**20, "kib": 1 / 1024, "mib": 1, "gib": 1024, "kb": 1e3 / 2**20}
MIB |= {"mb": 1e6 / 2**20, "gb": 1e9 / 2**20}


@dataclass(frozen=True)
class ServingPath:
    """One way to reach the local model from the load container."""

    key: str
    label: str
    url: str
    auto_model: bool  # ask for the gateway's "hybrid" model (with the key), not the model itself


PATHS = (
    ServingPath("direct", "direct (llama-server)", f"http://llm:{LLM_PORT}", False),
    ServingPath("gateway", "gateway only (LiteLLM, HTTP)", f"http://gateway:{GATEWAY_PORT}", True),
    ServingPath("proxy", "proxy+gateway (Caddy TLS)", "https://proxy:443", True),
)


class Deadline:
    """The benchmark's hard overall time limit."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the benchmark ran past its --timeout")
        return left if cap is None else min(left, cap)


def run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout, or SystemExit with the tail of its output."""
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv[:4])} ...\n{tail}")
    return done.stdout


def hybridctl() -> list[str]:
    exe = REPO / ".venv" / "bin" / "hybridctl"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hybridctl")
    return [found] if found else [sys.executable, "-m", "hybridctl"]


def model_path(model_id: str) -> Path:
    return MODELS_DIR / MODEL_FILES.get(model_id, f"{model_id}.gguf")


def ensure_model(model_id: str) -> Path:
    """The cached random-weight GGUF for a catalog model, written on first use."""
    path = model_path(model_id)
    if not path.exists():
        print(f"writing {path} (random weights, the catalog's shape; a few minutes)", flush=True)
        maker = REPO / "scripts" / "make_model.py"
        argv = [sys.executable, str(maker), "--catalog-model", model_id, "--out", str(path)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return path


def images_file(given: Path | None) -> Path:
    if given is not None:
        return given
    out = run(["bash", str(REPO / "scripts" / "local_images.sh")], timeout=7200)
    return Path(out.strip().splitlines()[-1])


def check_clean() -> None:
    """Refuse to start over a box or load container left by an earlier run."""
    project = run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={NAME}"], 60
    )
    if project.strip():
        raise SystemExit(
            f"containers of compose project {NAME} exist already (an earlier --keep run?); "
            f"remove them: HYBRIDCTL_STATE_DIR=<its state dir> hybridctl destroy {NAME} --yes, "
            f"or docker compose -p {NAME} down --volumes"
        )
    stale = run(["docker", "ps", "-aq", "--filter", f"label={LOAD_LABEL}"], 60).split()
    if stale:
        run(["docker", "rm", "-f", *stale], 60)


def deploy(
    tier: str, images: Path, models: dict[str, Path], env: dict[str, str], log: Path
) -> float:
    argv = [
        *hybridctl(), "deploy", "--provider", "local", "--tier", tier, "--name", NAME,
        "--images", str(images), "--allow-unverified",
        "--https-port", str(HTTPS_PORT), "--http-port", str(HTTP_PORT),
    ]  # fmt: skip
    for model_id, path in models.items():
        argv += ["--model-file", f"{model_id}={path}"]
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=1800)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().strip().splitlines()[-25:])
        raise SystemExit(f"deploy failed ({done.returncode}); last lines of {log}:\n{tail}")
    return time.monotonic() - started


def destroy(env: dict[str, str]) -> None:
    argv = [*hybridctl(), "destroy", NAME, "--yes"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        print(f"warning: destroy failed: {(done.stderr or done.stdout).strip()[-500:]}")


def outputs(env: dict[str, str]) -> dict[str, Any]:
    out = json.loads(run([*hybridctl(), "outputs", NAME, "--json"], 120, env))
    return out.get("outputs", out)


def master_key(bundle: Path) -> str:
    for line in (bundle / ".env").read_text().splitlines():
        if line.startswith("LITELLM_MASTER_KEY="):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit(f"no LITELLM_MASTER_KEY in {bundle / '.env'}")


def compose_limits(bundle: Path) -> dict[str, float]:
    """Each service's memory limit in MiB, from the rendered docker-compose.yml."""
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    limits = {}
    for service, spec in compose["services"].items():
        memory = (((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get(
            "memory"
        )
        if memory:
            limits[service] = float(str(memory).rstrip("Mm"))
    return limits


def containers() -> dict[str, str]:
    """Running service -> container name, for this compose project."""
    out = run(
        [
            "docker", "ps", "--filter", f"label=com.docker.compose.project={NAME}",
            "--format", '{{.Label "com.docker.compose.service"}}\t{{.Names}}',
        ],
        60,
    )  # fmt: skip
    return dict(line.split("\t", 1) for line in out.strip().splitlines() if "\t" in line)


def to_mib(text: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * MIB.get(match.group(2).lower(), float("nan"))


def docker_stats(names: dict[str, str]) -> dict[str, dict[str, float]]:
    """service -> {mem_mib, limit_mib, cpu_pct} from one `docker stats --no-stream`."""
    by_name = {v: k for k, v in names.items()}
    argv = ["docker", "stats", "--no-stream", "--format", "{{json .}}", *names.values()]
    found = {}
    for line in run(argv, 60).strip().splitlines():
        row = json.loads(line)
        used, _, limit = row["MemUsage"].partition("/")
        found[by_name.get(row["Name"], row["Name"])] = {
            "mem_mib": to_mib(used),
            "limit_mib": to_mib(limit),
            "cpu_pct": float(row["CPUPerc"].rstrip("%") or 0),
        }
    return found


class StatsSampler:
    """`docker stats` in a loop while a load runs; peak memory and mean CPU per service."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.samples: list[dict[str, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(SystemExit, subprocess.TimeoutExpired, ValueError):
                self.samples.append(docker_stats(self.names))
            self._stop.wait(0.5)

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for service in self.names:
            rows = [s[service] for s in self.samples if service in s]
            if rows:
                out[service] = {
                    "peak_mib": max(r["mem_mib"] for r in rows),
                    "cpu_pct_mean": statistics.fmean(r["cpu_pct"] for r in rows),
                    "cpu_pct_max": max(r["cpu_pct"] for r in rows),
                }
        return out


def start_load_container(image: str, ca_file: Path) -> None:
    """A sleeping container of the gateway image on both networks; batches run by docker exec."""
    run(
        [
            "docker", "run", "-d", "--name", LOAD_CONTAINER, "--label", LOAD_LABEL,
            "--network", f"{NAME}_internal", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true",
            "-v", f"{LOAD_SCRIPT}:/bench/load.py:ro", "-v", f"{ca_file}:/bench/ca.crt:ro",
            "--entrypoint", "python3", image, "-c", "import time; time.sleep(4 * 3600)",
        ],
        120,
    )  # fmt: skip
    run(["docker", "network", "connect", f"{NAME}_edge", LOAD_CONTAINER], 60)


def remove_load_container() -> None:
    subprocess.run(["docker", "rm", "-f", LOAD_CONTAINER], capture_output=True, timeout=120)


@dataclass(frozen=True)
class LoadSpec:
    """What every batch shares: the model names, the key and the request shape."""

    model_id: str
    auto_model: str
    key: str
    max_tokens: int
    nonce: str


def run_batch(
    spec: LoadSpec, path: ServingPath, concurrency: int, requests: int, tag: str, limit: Deadline
) -> dict[str, Any]:
    """One batch from the load container; its JSON result (per-request records, wall time)."""
    budget = limit.left(900)
    argv = [
        "docker", "exec", "-e", "BENCH_KEY", LOAD_CONTAINER, "python3", "/bench/load.py",
        "--url", path.url, "--model", spec.auto_model if path.auto_model else spec.model_id,
        "--requests", str(requests), "--concurrency", str(concurrency),
        "--max-tokens", str(spec.max_tokens), "--tag", f"{spec.nonce}-{tag}",
        "--cafile", "/bench/ca.crt", "--deadline-s", str(max(5.0, budget - 15)),
    ]  # fmt: skip
    env = {**os.environ, "BENCH_KEY": spec.key if path.auto_model else ""}
    result = json.loads(run(argv, budget, env))
    result.update(path=path.key, concurrency=concurrency, tag=tag)
    return result


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def good(record: dict[str, Any], path: str) -> bool:
    if record.get("status") != 200 or not record.get("completion_tokens"):
        return False
    return path == "direct" or record.get("headers", {}).get("x-hybrid-route") == "local"


def summarize(batches: list[dict[str, Any]], path: str, concurrency: int) -> dict[str, Any]:
    """Pooled figures for one path and concurrency over all rounds."""
    mine = [b for b in batches if b["path"] == path and b["concurrency"] == concurrency]
    records = [r for b in mine for r in b["requests"]]
    ok = [r for r in records if good(r, path)]
    wall = sum(b["wall_s"] for b in mine)
    latencies = [r["latency_s"] * 1000 for r in ok]
    header = [
        float(r["headers"][h])
        for r in ok
        for h in ("x-litellm-overhead-duration-ms",)
        if r.get("headers", {}).get(h) not in (None, "None")
    ]
    return {
        "requests": len(records),
        "ok": len(ok),
        "failed": [
            {k: r.get(k) for k in ("status", "error", "headers")}
            for r in records
            if not good(r, path)
        ][:5],
        "reconnects": sum(1 for r in records if r.get("reconnected")),
        "wall_s": wall,
        "req_per_s": len(ok) / wall if wall else 0.0,
        "tok_per_s": sum(r["completion_tokens"] for r in ok) / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "tok_per_s_by_round": [
            sum(r["completion_tokens"] for r in b["requests"] if good(r, path)) / b["wall_s"]
            for b in mine
        ],
        "litellm_overhead_ms_p50": percentile(header, 50) if header else None,
        "connect_ms_p50": percentile([c * 1000 for b in mine for c in b["connect_s"]], 50),
    }


def compare(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    by_round = [
        a / b
        for a, b in zip(row["tok_per_s_by_round"], base["tok_per_s_by_round"], strict=True)
        if b
    ]
    return {
        "tok_ratio": row["tok_per_s"] / base["tok_per_s"] if base["tok_per_s"] else float("nan"),
        "req_ratio": row["req_per_s"] / base["req_per_s"] if base["req_per_s"] else float("nan"),
        "tok_ratio_by_round": by_round,
        "added_p50_ms": row["p50_ms"] - base["p50_ms"],
        "added_p95_ms": row["p95_ms"] - base["p95_ms"],
    }


def rounds_of(
    spec: LoadSpec, levels: list[int], args: argparse.Namespace, limit: Deadline
) -> list[dict[str, Any]]:
    """Every timed batch: per round, per concurrency, the paths in alternating order."""
    batches = []
    for number in range(args.rounds):
        for concurrency in levels:
            order = PATHS if number % 2 == 0 else PATHS[::-1]
            for path in order:
                tag = f"r{number}c{concurrency}{path.key}"
                print(f"  round {number + 1}/{args.rounds} c={concurrency} {path.key}", flush=True)
                batches.append(run_batch(spec, path, concurrency, args.requests, tag, limit))
    return batches


def warm_up(spec: LoadSpec, top: int, limit: Deadline) -> None:
    for path in PATHS:
        result = run_batch(spec, path, top, 2 * top, f"warm{path.key}", limit)
        bad = [r for r in result["requests"] if not good(r, path.key)]
        if bad:
            raise SystemExit(f"warm-up through {path.label} failed: {bad[0]}")


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpu": model, "vcpus": os.cpu_count(), "loadavg": list(os.getloadavg())}


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def print_throughput(summary: dict[str, dict[int, dict[str, Any]]], levels: list[int]) -> None:
    print("\nthroughput and latency (pooled over rounds)")
    print(f"{'path':30} {'conc':>4} {'ok/n':>7} {'req/s':>6} {'tok/s':>6} {'p50 ms':>8} "
          f"{'p95 ms':>8}  tok/s by round")  # fmt: skip
    for concurrency in levels:
        for path in PATHS:
            row = summary[path.key][concurrency]
            rounds = " ".join(fmt(x) for x in row["tok_per_s_by_round"])
            print(
                f"{path.label:30} {concurrency:>4} {row['ok']:>3}/{row['requests']:<3} "
                f"{row['req_per_s']:>6.3f} {row['tok_per_s']:>6.2f} {row['p50_ms']:>8.1f} "
                f"{row['p95_ms']:>8.1f}  {rounds}"
            )


def print_ratios(ratios: dict[str, dict[int, dict[str, Any]]], levels: list[int]) -> None:
    print("\nagainst direct, same run (per-round range in brackets)")
    print(f"{'path':30} {'conc':>4} {'tok/s ratio':>22} {'added p50 ms':>13} {'added p95 ms':>13}")
    for concurrency in levels:
        for path in PATHS[1:]:
            c = ratios[path.key][concurrency]
            spread = c["tok_ratio_by_round"]
            span = f"[{min(spread):.3f}-{max(spread):.3f}]" if spread else ""
            print(
                f"{path.label:30} {concurrency:>4} {c['tok_ratio']:>7.3f} {span:>14} "
                f"{c['added_p50_ms']:>+13.1f} {c['added_p95_ms']:>+13.1f}"
            )


def print_where(summary: dict[str, dict[int, dict[str, Any]]], levels: list[int]) -> None:
    print("\nwhere the added p50 goes")
    for concurrency in levels:
        direct, gw, full = (summary[p.key][concurrency] for p in PATHS)
        hop_gateway, hop_proxy = gw["p50_ms"] - direct["p50_ms"], full["p50_ms"] - gw["p50_ms"]
        print(
            f"  c={concurrency}: gateway hop (LiteLLM + hook) {hop_gateway:+.1f} ms, "
            f"proxy hop (Caddy + TLS) {hop_proxy:+.1f} ms; LiteLLM's own "
            f"x-litellm-overhead-duration-ms p50 {fmt(gw['litellm_overhead_ms_p50'])} ms"
        )
    first = levels[0]
    print(
        "  connection set-up (not in the timings): TCP to llama-server "
        f"{fmt(summary['direct'][first]['connect_ms_p50'], '.2f')} ms, TCP+TLS to the proxy "
        f"{fmt(summary['proxy'][first]['connect_ms_p50'], '.2f')} ms (p50)"
    )


def memory_rows(memory: dict[str, Any]) -> list[str]:
    lines = []
    for service in sorted(memory["load"]):
        idle = memory["idle"].get(service, {})
        after = memory["after"].get(service, {})
        load = memory["load"][service]
        limit = memory["limits"].get(service)
        share = f"{100 * load['peak_mib'] / limit:.0f}%" if limit else "-"
        lines.append(
            f"  {service:10} {fmt(idle.get('mem_mib')):>9} {load['peak_mib']:>9.1f} "
            f"{fmt(after.get('mem_mib')):>9} {fmt(limit, '.0f'):>7} {share:>11} "
            f"{load['cpu_pct_mean']:>8.0f} {load['cpu_pct_max']:>8.0f}"
        )
    return lines


def print_memory(memory: dict[str, Any]) -> None:
    print(
        f"\nmemory (docker stats, MiB): idle before load, peak under load (c={memory['load_c']} "
        f"through the proxy, {memory['samples']} samples), idle after; CPU % of one core"
    )
    print(f"  {'service':10} {'idle':>9} {'peak':>9} {'after':>9} {'limit':>7} "
          f"{'peak/limit':>11} {'cpu mean':>8} {'cpu max':>8}")  # fmt: skip
    print("\n".join(memory_rows(memory)))
    print(
        f"  {'total':10} {memory['idle_total']:>9.1f} {memory['peak_total']:>9.1f} "
        f"{memory['after_total']:>9.1f} {memory['limits_total']:>7.0f}   "
        f"budget {memory['budget_mib']:.0f} MiB = tier RAM {memory['ram_mib']:.0f} - OS reserve "
        f"{memory['os_reserved_mib']:.0f}"
    )


def verdicts(ratios: dict[str, Any], memory: dict[str, Any], levels: list[int]) -> list[str]:
    full = ratios["proxy"]
    worst_ratio = min(levels, key=lambda c: full[c]["tok_ratio"])
    worst_p50 = max(levels, key=lambda c: full[c]["added_p50_ms"])
    ratio, p50 = full[worst_ratio]["tok_ratio"], full[worst_p50]["added_p50_ms"]
    fits = memory["peak_total"] <= memory["budget_mib"]
    limits_fit = memory["limits_total"] <= memory["budget_mib"]

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        f"gateway+proxy throughput cost <= {100 * (1 - GOAL_RATIO):.0f}%: "
        f"{mark(ratio >= GOAL_RATIO)} (worst ratio {ratio:.3f} at c={worst_ratio})",
        f"gateway+proxy added p50 <= {GOAL_P50_MS:.0f} ms: {mark(p50 <= GOAL_P50_MS)} "
        f"(worst {p50:+.1f} ms at c={worst_p50})",
        f"stack fits tier RAM less OS reserve: {mark(fits)} (peak {memory['peak_total']:.0f} of "
        f"{memory['budget_mib']:.0f} MiB; the limits add up to {memory['limits_total']:.0f} MiB, "
        f"{'within' if limits_fit else 'over'} the budget)",
    ]


def memory_section(
    names: dict[str, str],
    limits: dict[str, float],
    idle: dict[str, Any],
    sampler: StatsSampler,
    after: dict[str, Any],
    ram: tuple[float, float],
) -> dict[str, Any]:
    load = sampler.summary()
    kept = {s: limits[s] for s in names if s in limits}
    ram_mib, reserve = ram
    return {
        "limits": kept,
        "idle": idle,
        "load": load,
        "after": after,
        "samples": len(sampler.samples),
        "idle_total": sum(v["mem_mib"] for v in idle.values()),
        "peak_total": sum(v["peak_mib"] for v in load.values()),
        "after_total": sum(v["mem_mib"] for v in after.values()),
        "limits_total": sum(kept.values()),
        "ram_mib": ram_mib,
        "os_reserved_mib": reserve,
        "budget_mib": ram_mib - reserve,
    }


def measure(
    args: argparse.Namespace, spec: LoadSpec, levels: list[int], ctx: dict[str, Any]
) -> dict[str, Any]:
    """Warm-up, the timed rounds and the memory phases, on a box that serves."""
    limit: Deadline = ctx["limit"]
    names = containers()
    time.sleep(5)  # let the boot's own work settle before the idle reading
    idle = docker_stats(names)
    print("warm-up", flush=True)
    warm_up(spec, levels[-1], limit)
    print("timed rounds", flush=True)
    batches = rounds_of(spec, levels, args, limit)
    print(f"memory under load (c={levels[-1]} through the proxy)", flush=True)
    with StatsSampler(names) as sampler:
        proxy = PATHS[-1]
        run_batch(spec, proxy, levels[-1], max(args.requests, 4 * levels[-1]), "mem", limit)
    time.sleep(5)
    after = docker_stats(names)
    memory = memory_section(names, ctx["limits"], idle, sampler, after, ctx["ram"])
    return {"batches": batches, "memory": memory}


def report(
    args: argparse.Namespace, header: dict[str, Any], measured: dict[str, Any], levels: list[int]
) -> dict[str, Any]:
    batches = measured["batches"]
    summary = {p.key: {c: summarize(batches, p.key, c) for c in levels} for p in PATHS}
    ratios = {
        p.key: {c: compare(summary[p.key][c], summary["direct"][c]) for c in levels}
        for p in PATHS[1:]
    }
    print(
        f"\nhybridctl serving benchmark: tier {header['tier']} ({header['tier_name']}), "
        f"{header['model']} ({header['model_file']}, {header['model_mib']:.1f} MiB, random weights)"
    )
    print(
        f"machine: {header['machine']['cpu']}, {header['machine']['vcpus']} vCPU, load average "
        f"{header['machine']['loadavg'][0]:.2f} before, {header['loadavg_after'][0]:.2f} after; "
        f"boot {header['boot_s']:.0f} s"
    )
    print(
        f"each batch: {args.requests} requests, max_tokens {args.max_tokens}, unique prompts; "
        f"{args.rounds} rounds, path order reversed every other round; warm-up first"
    )
    print_throughput(summary, levels)
    print_ratios(ratios, levels)
    print_where(summary, levels)
    print_memory(measured["memory"])
    print("\ngoals (2 vCPUs)")
    lines = verdicts(ratios, measured["memory"], levels)
    print("\n".join(f"  {line}" for line in lines))
    failed = {
        f"{p}@{c}": summary[p][c]["failed"]
        for p in summary
        for c in levels
        if summary[p][c]["failed"]
    }
    if failed:
        print(f"\nfailed requests (first few): {json.dumps(failed)[:2000]}")
    return {"summary": summary, "ratios": ratios, "verdicts": lines}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", default="1", help="tier to deploy (default 1)")
    parser.add_argument("--requests", type=int, default=12, help="requests per batch (12)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of all paths (4)")
    parser.add_argument("--max-tokens", type=int, default=32, help="generated tokens (32)")
    parser.add_argument("--images", type=Path, help="images file (default: local_images.sh)")
    parser.add_argument("--timeout", type=float, default=3600, help="hard limit, s (3600)")
    parser.add_argument("--keep", action="store_true", help="leave the box running")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = Deadline(args.timeout)
    catalog = load_catalog()
    tier = catalog.tier(args.tier)
    simple = next(m.model for m in tier.models if m.role == "simple")
    levels = sorted({1, tier.parallel_slots})
    check_clean()
    models = {m.model: ensure_model(m.model) for m in tier.models}
    images = images_file(args.images)
    gateway_image = yaml.safe_load(images.read_text())["gateway"]
    state = Path(tempfile.mkdtemp(prefix="bench-serving-state-"))
    env = {**os.environ, "HYBRIDCTL_STATE_DIR": str(state)}
    header = {
        "tier": tier.id, "tier_name": tier.name, "model": simple,
        "model_file": models[simple].name, "model_mib": models[simple].stat().st_size / 2**20,
        "machine": machine(), "images": str(images),
    }  # fmt: skip
    print(f"deploying tier {tier.id} as {NAME} (state {state})", flush=True)
    try:
        header["boot_s"] = deploy(tier.id, images, models, env, state / "deploy.log")
        out = outputs(env)
        bundle = Path(out["bundle"])
        spec = LoadSpec(simple, "hybrid", master_key(bundle), args.max_tokens, secrets.token_hex(4))
        start_load_container(gateway_image, Path(out["ca_cert"]))
        ram = (tier.ram_gib * 1024, float(catalog.stack.os_reserved_mib))
        ctx = {"limit": limit, "limits": compose_limits(bundle), "ram": ram}
        measured = measure(args, spec, levels, ctx)
    finally:
        remove_load_container()
        if args.keep:
            print(f"kept: HYBRIDCTL_STATE_DIR={state} hybridctl destroy {NAME} --yes removes it")
        else:
            destroy(env)
            shutil.rmtree(state, ignore_errors=True)
    header["loadavg_after"] = list(os.getloadavg())
    results = report(args, header, measured, levels)
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, **header, **measured}
        args.json.write_text(json.dumps({**payload, **results}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
