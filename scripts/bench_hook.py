#!/usr/bin/env python3
"""The routing hook's own cost per request, beside the gateway's whole overhead, in one run.

Renders tier 2's router (every route pointed at one instant fake vendor), starts redis-server
and LiteLLM's proxy with the real hook on loopback, and measures:

1. hook: in the gateway's Python (LiteLLM's virtualenv), per request, the client-key lookup
   (the hook's auth: SHA-256, one Redis HGETALL) plus the pre-call hook (complexity score, daily
   budget and the key's budget from Redis, route choice); at concurrency 1 and 8 (asyncio
   tasks sharing the event loop and the Redis connection pool, as in the gateway).
2. gateway: a chat request through the proxy (client key, hook, LiteLLM's router, the fake
   vendor) against the same request sent to the fake vendor directly; overhead = the
   difference of the medians, at concurrency 1 and 8 (threads, keep-alive off on both).

Prints p50/p95 of each, CPU time per request (the hook's in its process; the proxy's from
/proc, so a busy shared machine inflates wall times more than these), and the ratios hook p50 /
gateway overhead p50 and hook CPU / gateway CPU (goal: hook p50 < 1 ms and under 5%).
Not measured: model time (the vendor answers at once), the TLS proxy
(see scripts/bench_serving.py), escalation (a second model call when confidence is low).

Example: python scripts/bench_hook.py --requests 300 --json hook.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LITELLM_VENV = REPO / ".cache" / "litellm-venv"
TIER = "2"
CONCURRENCY = (1, 8)
FAQ = [{"role": "user", "content": "What are your opening hours?"}]
HARD = [
    {"role": "user", "content": "Analyze my salary history and compare two offers. " * 6},
    {"role": "assistant", "content": "Could you share the benefits of each offer?"},
    {"role": "user", "content": "Evaluate the trade-offs in depth and explain why."},
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": round(pct(values_ms, 0.5), 4),
        "p95_ms": round(pct(values_ms, 0.95), 4),
        "mean_ms": round(statistics.fmean(values_ms), 4),
    }


# --- 1. inside the gateway's Python ------------------------------------------------------------


def inner(router_dir: Path, client_key: str, requests: int) -> dict[str, Any]:
    """Time the hook's auth + pre-call hook (run by LiteLLM's python, in its virtualenv)."""
    from types import SimpleNamespace

    sys.path.insert(0, str(router_dir))  # the gateway's PYTHONPATH: the router folder
    from hybrid_hook import auth as hybrid_auth
    from hybrid_hook import proxy

    handler = proxy.proxy_handler_instance
    request = SimpleNamespace(url=SimpleNamespace(path="/v1/chat/completions"))

    async def one(messages: list[dict]) -> float:
        data = {"model": "hybrid", "messages": messages, "proxy_server_request": {"headers": {}}}
        start = time.perf_counter()
        auth = await hybrid_auth.user_api_key_auth(request, f"Bearer {client_key}")
        await handler.async_pre_call_hook(auth, None, data, "acompletion")
        return (time.perf_counter() - start) * 1000

    async def run(concurrency: int) -> list[float]:
        timings: list[float] = []

        async def worker(index: int) -> None:
            for i in range(requests // concurrency):
                timings.append(await one(FAQ if (i + index) % 2 else HARD))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return timings

    async def main() -> dict[str, Any]:
        await run(4)  # warm-up: imports, Redis connections, regex caches
        result = {}
        for concurrency in CONCURRENCY:
            cpu = time.process_time()
            timings = await run(concurrency)
            cpu_ms = (time.process_time() - cpu) * 1000 / len(timings)
            result[str(concurrency)] = {**summary(timings), "cpu_ms_per_request": round(cpu_ms, 4)}
        return result

    return asyncio.run(main())


# --- 2. the whole gateway ---------------------------------------------------------------------


class Vendor(BaseHTTPRequestHandler):
    """An OpenAI-compatible vendor that answers at once."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        raw = json.dumps(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a process exited early ({process.args[0]})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing listened on {port} within {seconds:.0f} s")


def post(url: str, key: str | None, messages: list[dict]) -> float:
    body = json.dumps({"model": "hybrid", "messages": messages, "max_tokens": 4}).encode()
    headers = {"content-type": "application/json", "connection": "close"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as reply:
        reply.read()
        assert reply.status == 200
    return (time.perf_counter() - start) * 1000


def load(url: str, key: str | None, requests: int, concurrency: int) -> list[float]:
    # A fresh message each time: the gateway's cache must not answer.
    def one(i: int) -> float:
        text = f"What are your opening hours, branch {i}-{secrets.token_hex(4)}?"
        return post(url, key, [{"role": "user", "content": text}])

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(requests)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def outer(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from hybridctl.catalog import load_catalog
    from hybridctl.render.router import (
        build_router_context,
        point_redis_at,
        point_routes_at,
        write_router,
    )

    python = LITELLM_VENV / "bin" / "python"
    litellm = LITELLM_VENV / "bin" / "litellm"
    if not litellm.is_file():
        raise SystemExit(f"LiteLLM's virtualenv is missing: {LITELLM_VENV}")
    processes: list[subprocess.Popen] = []
    vendor = ThreadingHTTPServer(("127.0.0.1", 0), Vendor)
    threading.Thread(target=vendor.serve_forever, daemon=True).start()
    vendor_base = f"http://127.0.0.1:{vendor.server_address[1]}/v1"
    with tempfile.TemporaryDirectory(prefix="bench-hook-") as scratch:
        work = Path(scratch)
        password, master = secrets.token_hex(16), "sk-" + secrets.token_hex(16)
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
            "REDIS_PASSWORD": password,
            "LITELLM_MASTER_KEY": master,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        try:
            redis_port = free_port()
            redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port)]
            redis += ["--save", "", "--appendonly", "yes", "--dir", scratch]
            redis += ["--requirepass", password]
            processes.append(subprocess.Popen(redis, stdout=subprocess.DEVNULL))
            wait_port(redis_port, processes[-1])
            context = build_router_context(load_catalog(), TIER, "hetzner")
            roles = context.policy["local_models"]
            bases = {"local": vendor_base, "medium": vendor_base, "large": vendor_base}
            bases[str(roles["complex"])] = vendor_base
            context = point_routes_at(context, bases, budget_usd=1e6)
            context = point_redis_at(context, "127.0.0.1", redis_port)
            router = work / "router"
            write_router(context, router)
            env["PYTHONPATH"] = str(router)  # as the gateway service's environment sets it
            keys = [str(python), "-m", "hybrid_hook.keys", "add", "bench", "--tier", "paid"]
            keys += ["--daily-budget", "1000"]
            added = subprocess.run(keys, env=env, capture_output=True, text=True, check=True)
            client_key = json.loads(added.stdout)["key"]

            measured = subprocess.run(
                [str(python), __file__, "--inner", str(router), "--requests", str(args.requests)],
                env={**env, "HYBRID_BENCH_KEY": client_key},
                capture_output=True,
                text=True,
                check=True,
            )
            hook = json.loads(measured.stdout.strip().splitlines()[-1])

            port = free_port()
            proxy = [str(litellm), "--config", str(router / "litellm_config.yaml")]
            proxy += ["--host", "127.0.0.1", "--port", str(port), "--telemetry", "False"]
            log = (work / "proxy.log").open("w")
            processes.append(subprocess.Popen(proxy, cwd=router, env=env, stdout=log, stderr=log))
            wait_port(port, processes[-1])
            gateway_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            direct_url = f"{vendor_base}/chat/completions"
            load(gateway_url, client_key, 20, 4)  # warm-up
            gateway: dict[str, Any] = {}
            for concurrency in CONCURRENCY:
                n = args.gateway_requests
                # Alternate halves so drift on a shared machine hits both paths alike.
                via, direct, cpu = [], [], 0.0
                for _ in range(2):
                    before = cpu_seconds(processes[-1].pid)
                    via += load(gateway_url, client_key, n // 2, concurrency)
                    cpu += cpu_seconds(processes[-1].pid) - before
                    direct += load(direct_url, None, n // 2, concurrency)
                overhead = pct(via, 0.5) - pct(direct, 0.5)
                own = hook[str(concurrency)]
                gateway_cpu_ms = cpu * 1000 / len(via)
                gateway[str(concurrency)] = {
                    "via_gateway": summary(via),
                    "direct": summary(direct),
                    "overhead_p50_ms": round(overhead, 3),
                    "gateway_cpu_ms_per_request": round(gateway_cpu_ms, 3),
                    "hook_share_of_overhead": round(own["p50_ms"] / overhead, 4),
                    "hook_share_of_gateway_cpu": round(
                        own["cpu_ms_per_request"] / gateway_cpu_ms, 4
                    ),
                }
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
            vendor.shutdown()
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "hook": hook,
        "gateway": gateway,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="hook calls per concurrency")
    parser.add_argument("--gateway-requests", type=int, default=200, help="HTTP requests each")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.inner, os.environ["HYBRID_BENCH_KEY"], args.requests)))
        return
    result = outer(args)
    for concurrency in CONCURRENCY:
        hook = result["hook"][str(concurrency)]
        gateway = result["gateway"][str(concurrency)]
        print(
            f"concurrency {concurrency}: hook p50 {hook['p50_ms']:.3f} ms "
            f"(p95 {hook['p95_ms']:.3f}, CPU {hook['cpu_ms_per_request']:.3f} ms/request); "
            f"gateway p50 {gateway['via_gateway']['p50_ms']:.2f} ms, direct p50 "
            f"{gateway['direct']['p50_ms']:.2f} ms, overhead p50 {gateway['overhead_p50_ms']:.2f}"
            f" ms, gateway CPU {gateway['gateway_cpu_ms_per_request']:.2f} ms/request; hook = "
            f"{100 * gateway['hook_share_of_overhead']:.1f}% of the overhead p50, "
            f"{100 * gateway['hook_share_of_gateway_cpu']:.1f}% of the gateway's CPU"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
