"""Shared helpers for the router tests: render the router, import the hook, run real processes.

The processes are the real things: LiteLLM's proxy (from its own virtualenv), llama-cpp-python
servers on generated GGUF files, redis-server, and small HTTP servers that play the cloud
vendors (OpenAI's and Anthropic's APIs) and count what they receive.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.gateway.hook import router as hook_router
from hybridctl.render.router import RouterContext, build_router_context, write_router

REPO = Path(__file__).resolve().parent.parent
SIMPLE_2 = "tinyllama-1.1b-chat-q4_k_m"  # tier 2's simple model
COMPLEX_2 = "qwen2.5-1.5b-instruct-q4_k_m"  # and its complex one
LONG = "Our churn rose from 3% to 7% after the pricing change in March. " * 9
START_TIMEOUT_S = 150  # LiteLLM's proxy imports a lot; CI boxes are slow and shared
CHAT_LOG_LINE = "POST /v1/chat/completions"


def rendered_router(dest: Path, tier: str = "2", context: RouterContext | None = None) -> Path:
    """Render the router files for `tier` (or `context`) into dest and return dest."""
    ctx = context or build_router_context(load_catalog(), tier, "hetzner")
    write_router(ctx, dest)
    return dest


def hook_pythonpath_env(router_dir: Path) -> dict[str, str]:
    """What the gateway service's environment adds on the box: the hook package's parent."""
    return {"PYTHONPATH": str(router_dir)}


@functools.cache
def _tier_policy_json(tier: str) -> str:
    return build_router_context(load_catalog(), tier, "hetzner").policy_json


def tier_policy(tier: str = "2") -> dict[str, Any]:
    """The routing policy rendered for `tier`, as the hook reads it from hybrid_policy.json."""
    return dict(json.loads(_tier_policy_json(tier)))


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def request(messages: list, model: str = "hybrid", headers: dict | None = None, **extra) -> dict:
    """A chat request's data as LiteLLM hands it to the pre-call hook."""
    return {
        "model": model,
        "messages": messages,
        "proxy_server_request": {"headers": headers or {}},
        "metadata": {},
        **extra,
    }


def handler(hook: ModuleType, **policy_update: Any) -> Any:
    """A hook whose spend is kept in this test (no Redis) and whose local server is not asked
    whether it answers (none runs here; tests that want the health check name its URL)."""
    policy = {
        **tier_policy(),
        "spend_store": None,
        "local_health": {},
        **policy_update,
    }
    return hook.HybridRouter(policy=policy, store=hook.Store(None))


def pre_call(hook_handler: Any, data: dict, key_metadata: dict | None = None) -> dict:
    key = SimpleNamespace(metadata=key_metadata or {})
    return asyncio.run(hook_handler.async_pre_call_hook(key, None, data, "completion"))


def litellm_executable() -> Path | None:
    candidates = [
        os.environ.get("HYBRIDCTL_LITELLM"),
        str(REPO / ".cache" / "litellm-venv" / "bin" / "litellm"),
        shutil.which("litellm"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def missing(reason: str) -> None:
    if os.environ.get("HYBRIDCTL_REQUIRE_GATEWAY") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@dataclass
class Backend:
    name: str  # a route, or "complex" for the complex local model
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> int:
        return self.log.read_text(errors="replace").count(CHAT_LOG_LINE)

    def stop(self) -> None:
        stop(self.process)


def wait_http(url: str, process: subprocess.Popen, log: Path, headers: dict | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers or {}), timeout=5
            ):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def offline_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no download of the model price map
        LITELLM_TELEMETRY="False",
        DISABLE_SCHEMA_UPDATE="True",
        # Anything that tries to leave the machine meets a closed port; loopback goes direct.
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_redis(
    work: Path,
    password: str,
    processes: list[subprocess.Popen],
    *,
    port: int | None = None,
    appendonly: bool = False,
) -> int:
    """redis-server on loopback; with appendonly (as the box runs it) its data survives restarts."""
    port = port or free_port()
    log = work / "redis.log"
    with log.open("a") as out:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "yes" if appendonly else "no", "--dir", str(work)]
        command += ["--requirepass", password]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    processes.append(process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return port
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"redis-server did not listen in 30s:\n{log.read_text()}")


def redis_cli(port: int, password: str, *args: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-p", str(port), "--no-auth-warning", *args],
        env={**os.environ, "REDISCLI_AUTH": password},
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return result.stdout.strip()


def start_proxy(
    litellm: Path, router_dir: Path, port: int, log: Path, env: dict[str, str]
) -> subprocess.Popen:
    """LiteLLM's proxy on loopback with the rendered config (and hook) in router_dir."""
    with log.open("w") as out:
        command = [str(litellm), "--config", str(router_dir / "litellm_config.yaml")]
        command += ["--host", "127.0.0.1", "--port", str(port), "--telemetry", "False"]
        return subprocess.Popen(
            command,
            cwd=router_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=offline_env({**env, **hook_pythonpath_env(router_dir)}),
        )


@dataclass
class FakeVendor:
    """A cloud vendor's chat API on loopback that records each request's key and model.

    `style` is "openai" (POST /v1/chat/completions, key in Authorization) or "anthropic"
    (POST /v1/messages, key in x-api-key). Each answer reports 1,000 prompt and 1,000 completion
    tokens, so every answer has a known, non-zero cost.
    """

    name: str
    style: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def api_base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        suffix = "/v1" if self.style == "openai" else ""
        return f"http://{host!s}:{port}{suffix}"

    def received_keys(self) -> list[str]:
        return [entry["key"] for entry in self.seen]

    def start(self) -> FakeVendor:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                auth = self.headers.get("authorization", "")
                key = auth[7:] if auth.lower().startswith("bearer ") else ""
                key = self.headers.get("x-api-key") or key
                vendor.seen.append({"path": self.path, "key": key, "model": body.get("model")})
                answer = vendor.answer(str(body.get("model")))
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def answer(self, model: str) -> dict[str, Any]:
        text = f"answer from {self.name}"
        if self.style == "anthropic":
            return {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1000, "output_tokens": 1000},
            }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000},
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tier 2's rendered router files, once per test module."""
    return rendered_router(tmp_path_factory.mktemp("router"), tier="2")


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    """The LiteLLM hook's router module (the package the bundle copies), imported."""
    return hook_router


@pytest.fixture(scope="module")
def policy(router_dir: Path) -> dict[str, Any]:
    """The rendered routing policy."""
    return dict(json.loads((router_dir / "hybrid_policy.json").read_text()))
