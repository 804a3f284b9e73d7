#!/usr/bin/env python3
"""Serving-path benchmark: the TLS proxy and gateway against llama-server directly, one run.

Boots the tier's stack under Docker Compose (`hybridctl deploy --provider local`), then drives
all three paths from one load container attached to the stack's internal and edge networks:
llama-server directly, the LiteLLM gateway over plain HTTP, and the full path (Caddy TLS ->
gateway -> llama-server). Paths alternate within each round (order reversed every other round)
at concurrency 1 and at the tier's parallel slots, plus a one-token latency probe, so drift on
a shared machine hits them alike. llama-server reports its own compute time per request
(`timings`, passed on by LiteLLM), so the time each path adds is also measured per request,
without llama-server's jitter, and the gateway's own clocks (x-litellm-* headers) say where.
Memory: `docker stats` and the RSS of each container's processes (which counts the mmapped
model that `docker stats` leaves out), idle, peak under load and idle after, against the
compose limits and the tier's RAM less the OS reserve; major page faults show a container
paging its weights back in. --llm-cache-ram boots llama-server with another prompt-cache size.

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
import signal
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
from hybridctl.stackfacts import ONE_SHOT_SERVICES as ONE_SHOT  # noqa: E402

NAME = "bench-serving"
HTTPS_PORT, HTTP_PORT = 28443, 28080
LOAD_CONTAINER = f"{NAME}-load"
LOAD_LABEL = "hybridctl.bench=serving"
LOAD_SCRIPT = Path(__file__).resolve().with_name("bench_serving_load.py")
LOAD_PACKAGE = REPO / "hybridctl" / "bench"  # the load generator the script imports
MODELS_DIR = REPO / ".cache" / "models"
LOCAL_IMAGES = REPO / ".cache" / "local-images" / "images.yaml"  # written by local_images.sh
MODEL_FILES = {"tinyllama-1.1b-chat-q4_k_m": "tinyllama-1.1b-q4_k_m.gguf"}  # shared cache names
GOAL_RATIO, GOAL_P50_MS = 0.90, 30.0
THRASH_FAULTS = 1000  # major page faults during the run that mean a cgroup pages its memory out
RESERVE_S = 420  # kept from --timeout for the memory phase and teardown
LLAMA_CACHE_RAM_DEFAULT_MIB = 8192  # llama-server's --cache-ram default (its prompt cache)
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

    def left(self, cap: float | None = None, keep: float = 0.0) -> float:
        """Seconds left, less `keep` held back for later phases; TimeoutError when none are."""
        left = self.end - time.monotonic() - keep
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
    """--images, else local_images.sh's file when its images are all here, else build them."""
    if given is not None:
        return given
    if LOCAL_IMAGES.exists():
        wanted = [i for i in yaml.safe_load(LOCAL_IMAGES.read_text()).values() if i]
        found = subprocess.run(["docker", "image", "inspect", *wanted], capture_output=True)
        if found.returncode == 0:
            return LOCAL_IMAGES
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
    tier: str, images: Path, models: dict[str, Path], env: dict[str, str], limit: Deadline
) -> float:
    argv = [
        *hybridctl(), "deploy", "--provider", "local", "--tier", tier, "--name", NAME,
        "--images", str(images), "--allow-unverified",
        "--https-port", str(HTTPS_PORT), "--http-port", str(HTTP_PORT),
    ]  # fmt: skip
    for model_id, path in models.items():
        argv += ["--model-file", f"{model_id}={path}"]
    started = time.monotonic()
    log = Path(env["HYBRIDCTL_STATE_DIR"]) / "deploy.log"
    with log.open("w") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=limit.left(1800)
        )
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
    """Running long-lived service -> full container id, for this compose project."""
    out = run(
        [
            "docker", "ps", "--no-trunc", "--filter", f"label=com.docker.compose.project={NAME}",
            "--format", '{{.Label "com.docker.compose.service"}}\t{{.ID}}',
        ],
        60,
    )  # fmt: skip
    found = dict(line.split("\t", 1) for line in out.strip().splitlines() if "\t" in line)
    return {service: cid for service, cid in found.items() if service not in ONE_SHOT}


def wait_for_one_shots(limit: Deadline) -> None:
    """Let the boot's one-shot containers (models-warm) finish before the idle reading."""
    argv = ["docker", "ps", "--filter", f"label=com.docker.compose.project={NAME}", "--format"]
    for _ in range(60):
        out = run([*argv, '{{.Label "com.docker.compose.service"}}'], limit.left(60))
        if not set(out.split()) & set(ONE_SHOT):
            return
        time.sleep(2)


def to_mib(text: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * MIB.get(match.group(2).lower(), float("nan"))


def cgroup_dir(cid: str) -> Path | None:
    """The container's memory cgroup on this host (v1 or v2, cgroupfs or systemd driver)."""
    for folder in (
        f"/sys/fs/cgroup/memory/docker/{cid}",
        f"/sys/fs/cgroup/memory/system.slice/docker-{cid}.scope",
        f"/sys/fs/cgroup/system.slice/docker-{cid}.scope",
        f"/sys/fs/cgroup/docker/{cid}",
    ):
        if Path(folder, "memory.stat").is_file():
            return Path(folder)
    return None


def read_bytes(path: Path) -> float:
    try:
        return int(path.read_text().split()[0]) / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def process_rss(folder: Path) -> dict[str, float]:
    """RSS and peak RSS (VmHWM) summed over the cgroup's processes, MiB: mmapped weights too."""
    found = {"VmRSS:": 0, "VmHWM:": 0}
    for pid in (folder / "cgroup.procs").read_text().split():
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                name, *value = line.split()
                if name in found:
                    found[name] += int(value[0])
    return {"resident_mib": found["VmRSS:"] / 1024, "resident_hwm_mib": found["VmHWM:"] / 1024}


def cgroup_memory(cid: str) -> dict[str, float]:
    """The container's processes' RSS, its cgroup's charge and lifetime peak (MiB), major faults."""
    folder = cgroup_dir(cid)
    if folder is None:
        return {}
    pairs = (line.split() for line in (folder / "memory.stat").read_text().splitlines())
    stat = {p[0]: int(p[1]) for p in pairs if len(p) == 2}
    if "total_rss" in stat:  # cgroup v1
        charged, peak = folder / "memory.usage_in_bytes", folder / "memory.max_usage_in_bytes"
        faults = stat.get("total_pgmajfault", 0)
    else:
        charged, peak = folder / "memory.current", folder / "memory.peak"
        faults = stat.get("pgmajfault", 0)
    return {
        **process_rss(folder),
        "charged_mib": read_bytes(charged),
        "lifetime_peak_mib": read_bytes(peak),
        "major_faults": float(faults),  # pages read back from disk: the model's weights, evicted
    }


def snapshot(ids: dict[str, str]) -> dict[str, dict[str, float]]:
    """service -> docker stats (mem_mib, limit_mib, cpu_pct) and the cgroup's own figures."""
    by_id = {v: k for k, v in ids.items()}
    argv = ["docker", "stats", "--no-stream", "--format", "{{json .}}", *ids.values()]
    found = {}
    for line in run(argv, 60).strip().splitlines():
        row = json.loads(line)
        used, _, limit = row["MemUsage"].partition("/")
        service = by_id.get(row["Container"], row["Container"])
        found[service] = {
            "mem_mib": to_mib(used),
            "limit_mib": to_mib(limit),
            "cpu_pct": float(row["CPUPerc"].rstrip("%") or 0),
            **cgroup_memory(ids.get(service, "")),
        }
    return found


def peak(rows: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in rows if key in r and r[key] == r[key]]
    return max(values) if values else float("nan")


class StatsSampler:
    """`docker stats` in a loop while a load runs; peak memory and mean CPU per service."""

    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids
        self.samples: list[dict[str, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(SystemExit, subprocess.TimeoutExpired, ValueError):
                self.samples.append(snapshot(self.ids))
            self._stop.wait(0.5)

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for service in self.ids:
            rows = [s[service] for s in self.samples if service in s]
            if rows:
                out[service] = {
                    "mem_mib": peak(rows, "mem_mib"),
                    "resident_mib": peak(rows, "resident_mib"),
                    "charged_mib": peak(rows, "charged_mib"),
                    "lifetime_peak_mib": peak(rows, "lifetime_peak_mib"),
                    "resident_hwm_mib": peak(rows, "resident_hwm_mib"),
                    "cpu_pct_mean": statistics.fmean(r["cpu_pct"] for r in rows),
                    "cpu_pct_max": max(r["cpu_pct"] for r in rows),
                }
        return out


def images_with_cache_ram(images: Path, mib: int, scratch: Path) -> tuple[Path, str]:
    """An images file whose llm image sets llama-server's prompt cache size (LLAMA_ARG_CACHE_RAM).

    A derived image, so the box boots with it: restarting llm instead would leave the model's
    page cache charged to the old container's cgroup.
    """
    chosen = yaml.safe_load(images.read_text())
    tag = f"{NAME}/llm:cache-ram-{mib}"
    dockerfile = f"FROM {chosen['llm']}\nENV LLAMA_ARG_CACHE_RAM={mib}\n"
    done = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"docker build of {tag} failed:\n{done.stderr.strip()[-1500:]}")
    chosen["llm"] = tag
    out = scratch / "images.yaml"
    out.write_text(yaml.safe_dump(chosen))
    return out, tag


def start_load_container(image: str, ca_cert: Path, scratch: Path) -> None:
    """A sleeping container of the gateway image on both networks; batches run by docker exec."""
    ca_file = scratch / "ca.crt"  # a readable copy: the image's user is not root
    shutil.copyfile(ca_cert, ca_file)
    ca_file.chmod(0o644)
    package = scratch / "bench"  # the bench package, imported by the script beside it as `bench`
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(LOAD_PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [package, *package.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    scratch.chmod(0o755)
    run(
        [
            "docker", "run", "-d", "--name", LOAD_CONTAINER, "--label", LOAD_LABEL,
            "--network", f"{NAME}_internal", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true",
            "-v", f"{LOAD_SCRIPT}:/bench/load.py:ro", "-v", f"{package}:/bench/bench:ro",
            "-v", f"{ca_file}:/bench/ca.crt:ro",
            "--entrypoint", "python3", image, "-c", "import time; time.sleep(4 * 3600)",
        ],
        120,
    )  # fmt: skip
    run(["docker", "network", "connect", f"{NAME}_edge", LOAD_CONTAINER], 60)


def remove_load_container() -> None:
    subprocess.run(["docker", "rm", "-f", LOAD_CONTAINER], capture_output=True, timeout=120)


@dataclass(frozen=True)
class LoadSpec:
    """What every batch shares: the model names, the key and a nonce for unique prompts."""

    model_id: str
    auto_model: str
    key: str
    nonce: str


@dataclass(frozen=True)
class Point:
    """A load point: concurrency, tokens generated per request, requests per batch."""

    concurrency: int
    max_tokens: int
    requests: int
    probe: bool = False  # a latency probe (one token), outside the goals

    @property
    def key(self) -> str:
        return f"c={self.concurrency}" + (f" t={self.max_tokens}" if self.probe else "")


def others_running() -> list[str]:
    """Containers of other projects running now: load on this shared machine we did not make."""
    names = run(["docker", "ps", "--format", "{{.Names}}"], 60).split()
    return sorted(n for n in names if not n.startswith(NAME))


def run_batch(
    spec: LoadSpec, path: ServingPath, point: Point, tag: str, limit: Deadline, keep: float = 0
) -> dict[str, Any]:
    """One batch from the load container; its JSON result (per-request records, wall time)."""
    budget = limit.left(900, keep)
    others = others_running()
    argv = [
        "docker", "exec", "-e", "BENCH_KEY", LOAD_CONTAINER, "python3", "/bench/load.py",
        "--url", path.url, "--model", spec.auto_model if path.auto_model else spec.model_id,
        "--requests", str(point.requests), "--concurrency", str(point.concurrency),
        "--max-tokens", str(point.max_tokens), "--tag", f"{spec.nonce}-{tag}",
        "--cafile", "/bench/ca.crt", "--deadline-s", str(max(5.0, budget - 15)),
    ]  # fmt: skip
    env = {**os.environ, "BENCH_KEY": spec.key if path.auto_model else ""}
    result = json.loads(run(argv, budget, env))
    result.update(path=path.key, point=point.key, tag=tag, others=others_running() + others)
    return result


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def good(record: dict[str, Any], path: str) -> bool:
    if record.get("status") != 200 or not record.get("completion_tokens"):
        return False
    return path == "direct" or record.get("headers", {}).get("x-hybrid-route") == "local"


def header_values(records: list[dict[str, Any]], name: str) -> list[float]:
    found = (r.get("headers", {}).get(name) for r in records)
    return [float(v) for v in found if v not in (None, "None")]


def outside_ms(records: list[dict[str, Any]]) -> list[float]:
    """Per request: latency less llama-server's own compute (its timings), so without its jitter."""
    return [r["latency_s"] * 1000 - r["server_ms"] for r in records if "server_ms" in r]


def outside_litellm_ms(records: list[dict[str, Any]]) -> list[float]:
    """Per request: latency less the gateway's x-litellm-response-duration-ms window."""
    name = "x-litellm-response-duration-ms"
    return [
        r["latency_s"] * 1000 - float(r["headers"][name])
        for r in records
        if r.get("headers", {}).get(name) not in (None, "None")
    ]


def gateway_side_ms(records: list[dict[str, Any]]) -> list[float]:
    """Per request: the time the gateway side adds by its own clocks, llama-server's queue aside.

    Outside LiteLLM's response window (HTTP in and out, the TLS proxy) plus LiteLLM's overhead
    inside it (auth, the hook, routing, cache, logging): all but its HTTP client's own work.
    """
    name = "x-litellm-overhead-duration-ms"
    overheads = [r.get("headers", {}).get(name) for r in records]
    outside = outside_litellm_ms(records)
    found = [float(o) for o in overheads if o not in (None, "None")]
    return (
        [a + b for a, b in zip(outside, found, strict=True)] if len(found) == len(outside) else []
    )


def batch_figures(batch: dict[str, Any]) -> dict[str, float]:
    """tok/s and p50s of one batch (one round), for the per-round spread."""
    ok = [r for r in batch["requests"] if good(r, batch["path"])]
    tokens = sum(r["completion_tokens"] for r in ok)
    return {
        "tok_per_s": tokens / batch["wall_s"] if batch["wall_s"] else 0.0,
        "p50_ms": percentile([r["latency_s"] * 1000 for r in ok], 50),
        "outside_ms_p50": percentile(outside_ms(ok), 50),
    }


def summarize(batches: list[dict[str, Any]], path: str, point: str) -> dict[str, Any]:
    """Pooled figures for one path at one load point over all rounds."""
    mine = [b for b in batches if b["path"] == path and b["point"] == point]
    records = [r for b in mine for r in b["requests"]]
    ok = [r for r in records if good(r, path)]
    wall = sum(b["wall_s"] for b in mine)
    latencies = [r["latency_s"] * 1000 for r in ok]
    overhead = header_values(ok, "x-litellm-overhead-duration-ms")
    failed = [{k: r.get(k) for k in ("status", "error", "headers")} for r in records]
    return {
        "requests": len(records),
        "ok": len(ok),
        "failed": [f for f, r in zip(failed, records, strict=True) if not good(r, path)][:5],
        "reconnects": sum(1 for r in records if r.get("reconnected")),
        "wall_s": wall,
        "req_per_s": len(ok) / wall if wall else 0.0,
        "tok_per_s": sum(r["completion_tokens"] for r in ok) / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "by_round": [batch_figures(b) for b in mine],
        "server_ms_p50": percentile([r["server_ms"] for r in ok if "server_ms" in r], 50),
        "outside_ms_p50": percentile(outside_ms(ok), 50),
        "outside_ms_p95": percentile(outside_ms(ok), 95),
        "outside_litellm_ms_p50": percentile(outside_litellm_ms(ok), 50),
        "gateway_side_ms_p50": percentile(gateway_side_ms(ok), 50),
        "gateway_side_ms_p95": percentile(gateway_side_ms(ok), 95),
        "litellm_overhead_ms_p50": percentile(overhead, 50),
        "connect_ms_p50": percentile([c * 1000 for b in mine for c in b["connect_s"]], 50),
    }


def compare(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A path against direct at the same load point: pooled, and round by round."""
    pairs = list(zip(row["by_round"], base["by_round"], strict=True))
    return {
        "tok_ratio": row["tok_per_s"] / base["tok_per_s"] if base["tok_per_s"] else float("nan"),
        "req_ratio": row["req_per_s"] / base["req_per_s"] if base["req_per_s"] else float("nan"),
        "tok_ratio_by_round": [a["tok_per_s"] / b["tok_per_s"] for a, b in pairs if b["tok_per_s"]],
        "added_p50_ms_by_round": [a["p50_ms"] - b["p50_ms"] for a, b in pairs],
        "added_p50_ms": row["p50_ms"] - base["p50_ms"],
        "added_p95_ms": row["p95_ms"] - base["p95_ms"],
        "added_outside_p50_ms": row["outside_ms_p50"] - base["outside_ms_p50"],
        "added_outside_p95_ms": row["outside_ms_p95"] - base["outside_ms_p95"],
        "added_outside_p50_ms_by_round": [
            a["outside_ms_p50"] - b["outside_ms_p50"] for a, b in pairs
        ],
    }


def rounds_of(
    spec: LoadSpec, points: list[Point], rounds: int, limit: Deadline
) -> list[dict[str, Any]]:
    """Every timed batch: per round, per load point, the paths in alternating order.

    Keeps RESERVE_S of --timeout for the memory phase and teardown: a round that cannot
    finish in the rest is dropped whole, so a slow run still reports whole rounds.
    """
    batches: list[dict[str, Any]] = []
    for number in range(rounds):
        this: list[dict[str, Any]] = []
        try:
            for point in points:
                order = PATHS if number % 2 == 0 else PATHS[::-1]
                for path in order:
                    tag = f"r{number}{point.key}{path.key}".replace(" ", "").replace("=", "")
                    print(f"  round {number + 1}/{rounds} {point.key} {path.key}", flush=True)
                    this.append(run_batch(spec, path, point, tag, limit, RESERVE_S))
                    this[-1]["round"] = number + 1
                    if this[-1]["unsent"]:
                        raise TimeoutError("a batch ran out of time")
        except (TimeoutError, subprocess.TimeoutExpired):
            print(f"  stopping after {number} whole rounds: --timeout is near", flush=True)
            break
        batches += this
    return batches


def warm_up(spec: LoadSpec, point: Point, limit: Deadline) -> None:
    warm = Point(point.concurrency, point.max_tokens, 2 * point.concurrency)
    for path in PATHS:
        result = run_batch(spec, path, warm, f"warm{path.key}", limit)
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


def span(values: list[float], spec: str) -> str:
    return f"[{min(values):{spec}} .. {max(values):{spec}}]" if values else ""


def print_others(batches: list[dict[str, Any]]) -> None:
    """Which rounds ran beside containers of other projects (noise this run cannot remove)."""
    by_round: dict[int, set[str]] = {}
    for batch in batches:
        if batch.get("others"):
            by_round.setdefault(batch.get("round", 0), set()).update(batch["others"])
    for number, names in sorted(by_round.items()):
        print(f"  round {number} ran beside other containers: {', '.join(sorted(names))}")


def print_throughput(summary: dict[str, dict[str, dict[str, Any]]], points: list[Point]) -> None:
    print("\nthroughput and latency (pooled over rounds)")
    print(f"{'path':30} {'load':>8} {'ok/n':>7} {'req/s':>6} {'tok/s':>6} {'p50 ms':>8} "
          f"{'p95 ms':>8}  tok/s by round")  # fmt: skip
    for point in points:
        for path in PATHS:
            row = summary[path.key][point.key]
            rounds = " ".join(fmt(x["tok_per_s"], ".2f") for x in row["by_round"])
            print(
                f"{path.label:30} {point.key:>8} {row['ok']:>3}/{row['requests']:<3} "
                f"{row['req_per_s']:>6.3f} {row['tok_per_s']:>6.2f} {row['p50_ms']:>8.1f} "
                f"{row['p95_ms']:>8.1f}  {rounds}"
            )


def print_ratios(ratios: dict[str, dict[str, dict[str, Any]]], points: list[Point]) -> None:
    print("\nagainst direct, same run (pooled; per-round range in brackets)")
    print(f"{'path':30} {'load':>8} {'tok/s ratio':>26} {'added p50 ms':>30} {'added p95':>10}")
    for point in points:
        for path in PATHS[1:]:
            c = ratios[path.key][point.key]
            print(
                f"{path.label:30} {point.key:>8} {c['tok_ratio']:>7.3f} "
                f"{span(c['tok_ratio_by_round'], '.3f'):>18} {c['added_p50_ms']:>+9.1f} "
                f"{span(c['added_p50_ms_by_round'], '+.0f'):>20} {c['added_p95_ms']:>+10.1f}"
            )


def print_where(
    summary: dict[str, dict[str, dict[str, Any]]],
    ratios: dict[str, dict[str, dict[str, Any]]],
    points: list[Point],
) -> None:
    print(
        "\nwhere the time goes, per request, ms. Left: latency less llama-server's own compute "
        "(its timings,\npassed on by LiteLLM), against direct; at c>1 it includes llama-server's "
        "queue (one request waits for\nthe other's prompt), so it is bimodal. Right: the gateway's "
        "own clocks (x-litellm-* headers): overhead\ninside LiteLLM's window, time outside it, "
        "and their sum, the gateway side"
    )
    print(f"{'path':30} {'load':>8} {'compute':>8} {'less':>8} {'added':>7} {'per round':>16} "
          f"{'overhead':>8} {'outside':>8} {'side':>6} {'side':>6}")  # fmt: skip
    print(f"{'':30} {'':>8} {'p50':>8} {'compute':>8} {'p50':>7} {'':>16} "
          f"{'p50':>8} {'p50':>8} {'p50':>6} {'p95':>6}")  # fmt: skip
    for point in points:
        for path in PATHS:
            row = summary[path.key][point.key]
            c = ratios.get(path.key, {}).get(point.key)
            added = fmt(c["added_outside_p50_ms"], "+.1f") if c else ""
            rounds = span(c["added_outside_p50_ms_by_round"], "+.0f") if c else ""
            print(
                f"{path.label:30} {point.key:>8} {row['server_ms_p50']:>8.1f} "
                f"{row['outside_ms_p50']:>8.1f} {added:>7} {rounds:>16} "
                f"{fmt(row['litellm_overhead_ms_p50']):>8} {fmt(row['outside_litellm_ms_p50']):>8} "
                f"{fmt(row['gateway_side_ms_p50']):>6} {fmt(row['gateway_side_ms_p95']):>6}"
            )
    for point in points:
        gw, full = (summary[p.key][point.key] for p in PATHS[1:])
        print(
            f"  {point.key:>8}: gateway side p50 {fmt(full['gateway_side_ms_p50'])} ms through "
            f"the proxy = LiteLLM overhead {fmt(full['litellm_overhead_ms_p50'])} + outside its "
            f"window {fmt(full['outside_litellm_ms_p50'])}; the proxy hop (Caddy + TLS) "
            f"{full['outside_litellm_ms_p50'] - gw['outside_litellm_ms_p50']:+.1f} ms"
        )
    first = points[0].key
    print(
        "  connection set-up (kept alive, so not in the timings): TCP to llama-server "
        f"{fmt(summary['direct'][first]['connect_ms_p50'], '.2f')} ms, TCP+TLS to the proxy "
        f"{fmt(summary['proxy'][first]['connect_ms_p50'], '.2f')} ms (p50); llama-server's "
        "router answers Connection: close, so direct requests reconnect"
    )


MEMORY_COLUMNS = (  # (title, figure, its lifetime peak)
    (
        "docker stats (cgroup usage less inactive page cache); life peak: the cgroup's charge",
        "mem_mib",
        "lifetime_peak_mib",
    ),
    (
        "resident: RSS of the container's processes, mmapped model weights included; life "
        "peak: their VmHWM",
        "resident_mib",
        "resident_hwm_mib",
    ),
)


MEMORY_HEADER = (
    f"  {'service':10} {'idle':>8} {'peak':>8} {'after':>8} {'limit':>6} {'peak/limit':>10} "
    f"{'life peak':>9} {'cpu':>5} {'max':>5} {'majflt':>8}"
)


def memory_rows(memory: dict[str, Any], key: str, life: str) -> list[str]:
    lines = []
    for service in sorted(memory["load"]):
        idle = memory["idle"].get(service, {})
        after = memory["after"].get(service, {})
        load = memory["load"][service]
        limit = memory["limits"].get(service)
        share = f"{100 * load[key] / limit:.0f}%" if limit else "-"
        lines.append(
            f"  {service:10} {fmt(idle.get(key)):>8} {fmt(load[key]):>8} "
            f"{fmt(after.get(key)):>8} {fmt(limit, '.0f'):>6} {share:>10} "
            f"{fmt(load.get(life)):>9} {load['cpu_pct_mean']:>5.0f} "
            f"{load['cpu_pct_max']:>5.0f} {fmt(memory['major_faults'].get(service), '.0f'):>8}"
        )
    return lines


def print_memory(memory: dict[str, Any]) -> None:
    print(
        f"\nmemory, MiB: idle before load, peak under load ({memory['load_point']} through the "
        f"proxy, {memory['samples']} samples), idle after, lifetime peak; CPU % of one core "
        "under load; major page faults from idle to after (pages read back from disk: evicted "
        "model weights)"
    )
    for title, key, life in MEMORY_COLUMNS:
        print(f"  {title}")
        print(MEMORY_HEADER)
        print("\n".join(memory_rows(memory, key, life)))
        totals = memory["totals"][key]
        print(
            f"  {'total':10} {totals['idle']:>8.1f} {totals['peak']:>8.1f} {totals['after']:>8.1f} "
            f"{memory['limits_total']:>6.0f}"
        )
    print(
        f"  budget {memory['budget_mib']:.0f} MiB = tier RAM {memory['ram_mib']:.0f} less the OS "
        f"reserve {memory['os_reserved_mib']:.0f}"
    )


def verdicts(
    summary: dict[str, Any], ratios: dict[str, Any], memory: dict[str, Any], points: list[Point]
) -> list[str]:
    full = ratios["proxy"]
    keys = [p.key for p in points if not p.probe]
    worst_ratio = min(keys, key=lambda k: full[k]["tok_ratio"])
    side = {k: summary["proxy"][k]["gateway_side_ms_p50"] for k in keys}
    worst_p50 = max(keys, key=lambda k: side[k])
    ratio, p50 = full[worst_ratio]["tok_ratio"], side[worst_p50]
    first = keys[0]
    end_to_end = ", ".join(
        f"{k} {full[k]['added_p50_ms']:+.0f} {span(full[k]['added_p50_ms_by_round'], '+.0f')}"
        for k in keys
    )
    resident = memory["totals"]["resident_mib"]["peak"]
    stats = memory["totals"]["mem_mib"]["peak"]
    budget, limits = memory["budget_mib"], memory["limits_total"]
    squeezed = squeezed_services(memory)

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        f"gateway+proxy throughput cost <= {100 * (1 - GOAL_RATIO):.0f}%: "
        f"{mark(ratio >= GOAL_RATIO)} (worst tok/s ratio {ratio:.3f} at {worst_ratio}, "
        f"per round {span(full[worst_ratio]['tok_ratio_by_round'], '.3f')})",
        f"gateway+proxy added p50 <= {GOAL_P50_MS:.0f} ms: {mark(p50 <= GOAL_P50_MS)} "
        f"(gateway side by its own clocks: worst p50 {p50:.1f} ms at {worst_p50}; latency less "
        f"llama-server's compute against direct at {first}: "
        f"{full[first]['added_outside_p50_ms']:+.1f} ms; end-to-end p50 differences, "
        f"llama-server's jitter included: {end_to_end} ms)",
        f"stack fits tier RAM less OS reserve: {mark(resident <= budget)} (resident peak "
        f"{resident:.0f} of {budget:.0f} MiB; docker stats peak {stats:.0f} MiB; the limits add "
        f"up to {limits:.0f} MiB, {'within' if limits <= budget else 'over'} the budget)",
        f"each service fits its own limit: {mark(not squeezed)} ("
        + ("; ".join(squeezed) or f"under {THRASH_FAULTS} major page faults each")
        + ")",
    ]


def squeezed_services(memory: dict[str, Any]) -> list[str]:
    """Services whose cgroup ran out: over their limit, or reading pages back (thrashing)."""
    found = []
    for service, load in memory["load"].items():
        limit = memory["limits"].get(service)
        faults = memory["major_faults"].get(service, 0.0)
        if (limit and load["resident_mib"] > limit) or faults >= THRASH_FAULTS:
            found.append(
                f"{service}: resident peak {load['resident_mib']:.0f} of {fmt(limit, '.0f')} MiB, "
                f"{faults:.0f} major page faults"
            )
    return found


def memory_section(
    ids: dict[str, str],
    limits: dict[str, float],
    samples: tuple[dict[str, Any], StatsSampler, dict[str, Any]],
    ram: tuple[float, float],
    load_point: str,
) -> dict[str, Any]:
    idle, sampler, after = samples
    load = sampler.summary()
    kept = {s: limits[s] for s in ids if s in limits}
    ram_mib, reserve = ram

    def total(rows: dict[str, dict[str, float]], key: str) -> float:
        return sum(v.get(key, 0.0) for v in rows.values() if v.get(key) == v.get(key))

    return {
        "load_point": load_point,
        "limits": kept,
        "idle": idle,
        "load": load,
        "after": after,
        "samples": len(sampler.samples),
        "totals": {
            key: {"idle": total(idle, key), "peak": total(load, key), "after": total(after, key)}
            for _, key, _ in MEMORY_COLUMNS
        },
        "limits_total": sum(kept.values()),
        "major_faults": {
            s: after[s].get("major_faults", 0.0) - idle.get(s, {}).get("major_faults", 0.0)
            for s in after
        },
        "ram_mib": ram_mib,
        "os_reserved_mib": reserve,
        "budget_mib": ram_mib - reserve,
    }


def measure(
    spec: LoadSpec, points: list[Point], rounds: int, ctx: dict[str, Any]
) -> dict[str, Any]:
    """Warm-up, the timed rounds and the memory phases, on a box that serves."""
    limit: Deadline = ctx["limit"]
    wait_for_one_shots(limit)
    ids = containers()
    time.sleep(5)  # let the boot's own work settle before the idle reading
    idle = snapshot(ids)
    top = max((p for p in points if not p.probe), key=lambda p: p.concurrency)
    print("warm-up", flush=True)
    warm_up(spec, top, limit)
    print("timed rounds", flush=True)
    batches = rounds_of(spec, points, rounds, limit)
    load = Point(top.concurrency, top.max_tokens, max(top.requests, 4 * top.concurrency))
    print(f"memory under load ({load.key} through the proxy)", flush=True)
    with StatsSampler(ids) as sampler:
        run_batch(spec, PATHS[-1], load, "mem", limit, keep=60)
    time.sleep(5)
    after = snapshot(ids)
    samples = (idle, sampler, after)
    memory = memory_section(ids, ctx["limits"], samples, ctx["ram"], load.key)
    done = len(batches) // (len(points) * len(PATHS))
    return {"batches": batches, "memory": memory, "rounds_done": done}


def report(
    args: argparse.Namespace, header: dict[str, Any], measured: dict[str, Any], points: list[Point]
) -> dict[str, Any]:
    batches = measured["batches"]
    summary = {p.key: {q.key: summarize(batches, p.key, q.key) for q in points} for p in PATHS}
    ratios = {
        p.key: {q.key: compare(summary[p.key][q.key], summary["direct"][q.key]) for q in points}
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
        f"c=N: N requests in flight, {args.requests} requests a batch, max_tokens "
        f"{args.max_tokens}; t=1: a {args.probe_requests}-request one-token latency probe. "
        f"Unique prompts, {measured['rounds_done']} of {args.rounds} rounds, path order reversed "
        "every other round, warm-up "
        "first; generated tokens from usage.completion_tokens"
    )
    cache = args.llm_cache_ram
    print(
        f"llm prompt cache (cache-ram): {cache} MiB, set by --llm-cache-ram"
        if cache is not None
        else f"llm prompt cache (cache-ram): as rendered (llama-server's default, "
        f"{LLAMA_CACHE_RAM_DEFAULT_MIB} MiB)"
    )
    print_throughput(summary, points)
    print_others(batches)
    print_ratios(ratios, points)
    squeezed = squeezed_services(measured["memory"])
    if squeezed:
        print(
            "  note: " + "; ".join(squeezed) + ". A service paging its memory back in slows "
            "whichever path runs at the time: these ratios measure that, not the gateway alone"
        )
    print_where(summary, ratios, points)
    print_memory(measured["memory"])
    print("\ngoals (2 vCPUs; c=N load points only)")
    lines = verdicts(summary, ratios, measured["memory"], points)
    print("\n".join(f"  {line}" for line in lines))
    failed = {f"{p}@{q}": row["failed"] for p, rows in summary.items() for q, row in rows.items()}
    failed = {k: v for k, v in failed.items() if v}
    if failed:
        print(f"\nfailed requests (first few): {json.dumps(failed)[:2000]}")
    return {"summary": summary, "ratios": ratios, "verdicts": lines}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", default="1", help="tier to deploy (default 1)")
    parser.add_argument("--requests", type=int, default=12, help="requests per batch (12)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of all paths (4)")
    parser.add_argument("--max-tokens", type=int, default=32, help="generated tokens (32)")
    parser.add_argument(
        "--probe-requests",
        type=int,
        default=16,
        help="one-token latency probe per round (16; 0: none)",
    )
    parser.add_argument("--images", type=Path, help="images file (default: local_images.sh's)")
    parser.add_argument(
        "--llm-cache-ram",
        type=int,
        metavar="MIB",
        help="boot llm with this llama-server cache-ram (prompt cache), through a derived image "
        f"(default: as rendered, i.e. llama-server's {LLAMA_CACHE_RAM_DEFAULT_MIB} MiB)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="hard limit, s (3600)")
    parser.add_argument("--keep", action="store_true", help="leave the box running")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    return parser.parse_args(argv)


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the box down too (the finally in main)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    limit = Deadline(args.timeout)
    catalog = load_catalog()
    tier = catalog.tier(args.tier)
    simple = next(m.model for m in tier.models if m.role == "simple")
    points = [Point(c, args.max_tokens, args.requests) for c in sorted({1, tier.parallel_slots})]
    if args.probe_requests:
        points.append(Point(1, 1, args.probe_requests, probe=True))
    check_clean()
    models = {m.model: ensure_model(m.model) for m in tier.models}
    images = images_file(args.images)
    gateway_image = yaml.safe_load(images.read_text())["gateway"]
    state = Path(tempfile.mkdtemp(prefix="bench-serving-state-"))
    (state / "load").mkdir()
    env = {**os.environ, "HYBRIDCTL_STATE_DIR": str(state)}
    header = {
        "tier": tier.id, "tier_name": tier.name, "model": simple,
        "model_file": models[simple].name, "model_mib": models[simple].stat().st_size / 2**20,
        "machine": machine(), "images": str(images),
    }  # fmt: skip
    print(f"deploying tier {tier.id} as {NAME} (state {state})", flush=True)
    derived = None
    try:
        if args.llm_cache_ram is not None:
            images, derived = images_with_cache_ram(images, args.llm_cache_ram, state)
            header["llm_image"] = derived
        header["boot_s"] = deploy(tier.id, images, models, env, limit)
        out = outputs(env)
        bundle = Path(out["bundle"])
        spec = LoadSpec(simple, "hybrid", master_key(bundle), secrets.token_hex(4))
        start_load_container(gateway_image, Path(out["ca_cert"]), state / "load")
        ram = (tier.ram_gib * 1024, float(catalog.stack.os_reserved_mib))
        ctx = {"limit": limit, "limits": compose_limits(bundle), "ram": ram}
        measured = measure(spec, points, args.rounds, ctx)
    finally:
        remove_load_container()
        if args.keep:
            print(f"kept: HYBRIDCTL_STATE_DIR={state} hybridctl destroy {NAME} --yes removes it")
        else:
            destroy(env)
            shutil.rmtree(state, ignore_errors=True)
            if derived:
                subprocess.run(["docker", "rmi", derived], capture_output=True, timeout=120)
    header["loadavg_after"] = list(os.getloadavg())
    results = report(args, header, measured, points)
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, **header, **measured}
        args.json.write_text(json.dumps({**payload, **results}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
