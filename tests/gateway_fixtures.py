"""The policy tests' deployment: two LiteLLM gateways on one Redis, a local model, fake vendors.

Used by tests/test_gateway_policy.py; see its docstring.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import itertools
import json
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.ops.keys import KEYS_MODULE
from hybridctl.render.router import (
    build_router_context,
    point_redis_at,
    point_routes_at,
    point_vendors_at,
    write_router,
)
from tests.router_fixtures import (
    Backend,
    FakeVendor,
    free_port,
    hook_pythonpath_env,
    litellm_executable,
    missing,
    offline_env,
    redis_cli,
    start_proxy,
    start_redis,
    stop,
    wait_http,
)

TIER = "2"
COMPLEX_MODEL = (
    local_roles(load_catalog().tier(TIER)).complex or local_roles(load_catalog().tier(TIER)).simple
).model
BUDGET_USD = 0.01  # one large answer (1,000 + 1,000 tokens at GPT-4o or Claude prices) spends it
REQUEST_TIMEOUT_S = 90
LARGE_VENDORS = ("openai", "anthropic")
unique = itertools.count()


@dataclass
class Deployment:
    gateways: list[str]
    logs: list[Path]
    master_key: str
    redis_port: int
    redis_password: str
    work: Path
    router_dir: Path
    python: str
    vendors: dict[str, FakeVendor]
    local: Backend
    processes: list[subprocess.Popen]

    def keys(self, *args: str) -> dict | list:
        done = subprocess.run(
            [self.python, "-m", KEYS_MODULE, *args],
            env={
                **offline_env(hook_pythonpath_env(self.router_dir)),
                "REDIS_PASSWORD": self.redis_password,
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def add_key(self, tier: str, *extra: str) -> str:
        name = f"{tier}-{next(unique)}"
        return str(self.keys("add", name, "--tier", tier, *extra)["key"])

    def redis(self, *args: str) -> str:
        return redis_cli(self.redis_port, self.redis_password, *args)

    def counts(self) -> dict[str, int]:
        counts = {name: len(v.seen) for name, v in self.vendors.items()}
        return {**counts, "local": self.local.chat_requests()}


def chat(
    url: str,
    key: str | None,
    messages: list[dict],
    *,
    model: str = "hybrid",
    headers: dict | None = None,
    path: str = "/v1/chat/completions",
) -> tuple[int, dict[str, str], dict]:
    body = json.dumps({"model": model, "messages": messages, "max_tokens": 8}).encode()
    auth = {"authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(
        f"{url}{path}",
        data=body,
        headers={"content-type": "application/json", **auth, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    try:
        payload = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        payload = {"raw": raw.decode(errors="replace")}
    return status, {k.lower(): v for k, v in got.items()}, payload


def faq() -> list[dict]:
    return [{"role": "user", "content": f"What are your opening hours? (#{next(unique)})"}]


def hard() -> list[dict]:
    """A multi-turn analysis: complexity 10, the large route's work."""
    return [
        {"role": "user", "content": "Analyze my salary history and compare two job offers."},
        {"role": "assistant", "content": "Could you share the benefits of each offer?"},
        {
            "role": "user",
            "content": f"Evaluate the trade-offs in depth and explain why (#{next(unique)}).",
        },
    ]


QUALITY = {"x-hybrid-strategy": "quality"}


@contextlib.contextmanager
def running_deployment(work: Path) -> Iterator[Deployment]:
    """Two gateways on one Redis, a local model server and the fake vendors; stopped after."""
    litellm = litellm_executable()
    if litellm is None:
        missing("LiteLLM proxy not installed (see tests/test_gateway_e2e.py docstring)")
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        missing("llama-cpp-python with its server extras is not installed")

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        missing("redis-server is not installed (Debian package redis-server)")
    from hybridctl.testing.modelgen import write_tiny_model

    assert litellm is not None
    secrets_env = {
        name: secrets.token_hex(16)
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "REDIS_PASSWORD")
    }
    master_key = "sk-" + secrets.token_hex(16)
    vendors = {
        "openai": FakeVendor("openai", "openai").start(),
        "anthropic": FakeVendor("anthropic", "anthropic").start(),
        "groq": FakeVendor("groq", "openai").start(),
    }
    processes: list[subprocess.Popen] = []
    local = Backend("local", free_port(), work / "local.log")
    try:
        model = write_tiny_model(work / "local.gguf", seed=5)
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model),
            "--host", "127.0.0.1", "--port", str(local.port), "--chat_format", "chatml",
            "--n_ctx", "2048", "--logits_all", "True",
        ]  # fmt: skip
        with local.log.open("w") as log:
            local.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=offline_env({})
            )
        processes.append(local.process)
        redis_port = start_redis(work, secrets_env["REDIS_PASSWORD"], processes, appendonly=True)
        context = build_router_context(load_catalog(), TIER, "hetzner")
        bases = {"local": local.api_base, COMPLEX_MODEL: local.api_base}
        context = point_routes_at(
            context, {**bases, "medium": vendors["groq"].api_base}, budget_usd=BUDGET_USD
        )
        context = point_vendors_at(context, {v: vendors[v].api_base for v in LARGE_VENDORS})
        context = point_redis_at(context, "127.0.0.1", redis_port)
        router_dir = work / "router"
        write_router(context, router_dir)
        env = {"LITELLM_MASTER_KEY": master_key, **secrets_env}
        gateways, logs = [], []
        for index in range(2):
            port = free_port()
            log_path = work / f"gateway-{index}.log"
            processes.append(start_proxy(litellm, router_dir, port, log_path, env))
            gateways.append(f"http://127.0.0.1:{port}")
            logs.append(log_path)
        wait_http(f"{local.api_base}/models", local.process, local.log)
        for url, process, log_path in zip(gateways, processes[-2:], logs, strict=True):
            wait_http(f"{url}/health/liveliness", process, log_path)
        python = str(Path(litellm).with_name("python"))
        yield Deployment(
            gateways, logs, master_key, redis_port, secrets_env["REDIS_PASSWORD"], work,
            router_dir, python, vendors, local, processes,
        )  # fmt: skip
    finally:
        for process in processes:
            stop(process)
        for vendor in vendors.values():
            vendor.stop()


def spend_key() -> str:
    return "hybridctl:cloud_spend_usd:" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


class ScriptRunner:
    """Runs, here, what `docker compose exec -T gateway python ...` runs on the box."""

    where = "the test gateway"

    def __init__(self, box: Deployment) -> None:
        self.box = box

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Any:
        assert args[:6] == ("exec", "-T", "gateway", "python", "-m", KEYS_MODULE), args
        return subprocess.run(
            [self.box.python, "-m", KEYS_MODULE, *args[6:]],
            env={
                **offline_env(hook_pythonpath_env(self.box.router_dir)),
                "REDIS_PASSWORD": self.box.redis_password,
            },
            capture_output=True,
            timeout=timeout,
        )
