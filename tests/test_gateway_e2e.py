"""End to end: the rendered router config in a real LiteLLM proxy, in front of llama.cpp servers.

Four llama-cpp-python OpenAI-compatible servers run tiny generated models on loopback: two play
tier 2's local models (the simple one behind the `local` route, and the complex one, reached by
its catalog name), two play the medium and large cloud routes (each cloud one demands its API
key, so the test also proves the os.environ key references resolve). The proxy runs the
rendered litellm_config.yaml and hybrid_router.py unchanged except for the api_bases.

LiteLLM lives in its own virtualenv (its proxy extra pins rich<14, the CLI needs rich 15): found
at $HYBRIDCTL_LITELLM, else .cache/litellm-venv/bin/litellm, else `litellm` on PATH. Without it
the test skips, unless HYBRIDCTL_REQUIRE_GATEWAY=1 (CI) makes that a failure.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.catalog.roles import local_roles
from hybridctl.render.router import (
    build_router_context,
    point_redis_at,
    point_routes_at,
    write_router,
)

REPO = Path(__file__).resolve().parent.parent
TIER = "2"
_ROLES = local_roles(load_catalog().tier(TIER))
SIMPLE_MODEL = _ROLES.simple.model
COMPLEX_MODEL = _ROLES.complex.model if _ROLES.complex else ""
# One server each: the `local` route (the simple model), the complex local model, the clouds.
BACKENDS = ("local", "complex", "medium", "large")
START_TIMEOUT_S = 150  # LiteLLM's proxy imports a lot; CI boxes are slow and shared
REQUEST_TIMEOUT_S = 60
CHAT_LOG_LINE = "POST /v1/chat/completions"


def _litellm_executable() -> Path | None:
    candidates = [
        os.environ.get("HYBRIDCTL_LITELLM"),
        str(REPO / ".cache" / "litellm-venv" / "bin" / "litellm"),
        shutil.which("litellm"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _missing(reason: str) -> None:
    if os.environ.get("HYBRIDCTL_REQUIRE_GATEWAY") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@dataclass
class Gateway:
    url: str
    master_key: str
    backends: dict[str, Backend]
    keys: dict[str, str]
    router_dir: Path
    log: Path
    redis_port: int | None = None

    def chat(
        self, messages: list[dict], *, model: str = "hybrid", headers: dict | None = None
    ) -> tuple[int, dict[str, str], dict]:
        body = json.dumps({"model": model, "messages": messages, "max_tokens": 8}).encode()
        request = urllib.request.Request(
            f"{self.url}/v1/chat/completions",
            data=body,
            headers={
                "authorization": f"Bearer {self.master_key}",
                "content-type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), error.headers
        return status, {k.lower(): v for k, v in got.items()}, json.loads(raw or b"{}")

    def counts(self) -> dict[str, int]:
        return {name: backend.chat_requests() for name, backend in self.backends.items()}


def _wait_http(url: str, process: subprocess.Popen, log: Path, headers: dict | None = None) -> None:
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


def _offline_env(extra: dict[str, str]) -> dict[str, str]:
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


def _start_redis(work: Path, password: str, processes: list[subprocess.Popen]) -> int:
    port = _free_port()
    log = work / "redis.log"
    with log.open("w") as out:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(work), "--requirepass", password]
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


def redis_cli(gateway: Gateway, *args: str) -> str:
    assert gateway.redis_port is not None
    result = subprocess.run(
        ["redis-cli", "-p", str(gateway.redis_port), "--no-auth-warning", *args],
        env={**os.environ, "REDISCLI_AUTH": gateway.keys["REDIS_PASSWORD"]},
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module", params=["in-process", "redis"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The proxy with cache and daily spend in its own process, or in a real Redis."""
    litellm = _litellm_executable()
    if litellm is None:
        _missing("LiteLLM proxy not installed (see tests/test_gateway_e2e.py docstring)")
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        _missing("llama-cpp-python with its server extras is not installed")
    from hybridctl.modelgen import write_tiny_model

    with_redis = request.param == "redis"
    if with_redis and (shutil.which("redis-server") is None or shutil.which("redis-cli") is None):
        _missing("redis-server is not installed (Debian package redis-server)")
    work = tmp_path_factory.mktemp("gateway")
    keys = {"GROQ_API_KEY": secrets.token_hex(16), "OPENAI_API_KEY": secrets.token_hex(16)}
    keys["REDIS_PASSWORD"] = secrets.token_hex(16)
    server_key = {
        "local": None,
        "complex": None,
        "medium": keys["GROQ_API_KEY"],
        "large": keys["OPENAI_API_KEY"],
    }
    backends = {name: Backend(name, _free_port(), work / f"{name}.log") for name in BACKENDS}
    processes: list[subprocess.Popen] = []
    try:
        for seed, (name, backend) in enumerate(backends.items()):
            model = write_tiny_model(work / f"{name}.gguf", seed=seed + 11)
            command = [
                sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                "--host", "127.0.0.1", "--port", str(backend.port), "--chat_format", "chatml",
                "--n_ctx", "2048",
            ]  # fmt: skip
            if server_key[name]:
                command += ["--api_key", server_key[name]]
            with backend.log.open("w") as log:
                backend.process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=_offline_env({})
                )
            processes.append(backend.process)

        assert COMPLEX_MODEL, f"tier {TIER} needs a complex local model for this test"
        context = build_router_context(load_catalog(), TIER, "hetzner")
        # The complex local model is reached by its catalog name. A budget that one cloud
        # answer exceeds.
        api_bases = {name: b.api_base for name, b in backends.items()}
        api_bases[COMPLEX_MODEL] = api_bases.pop("complex")
        context = point_routes_at(context, api_bases, budget_usd=1e-7, redis=False)
        redis_port = None
        if with_redis:
            redis_port = _start_redis(work, keys["REDIS_PASSWORD"], processes)
            context = point_redis_at(context, "127.0.0.1", redis_port)
        router_dir = work / "router"
        write_router(context, router_dir)

        master_key = "sk-" + secrets.token_hex(16)
        port = _free_port()
        proxy_log = work / "proxy.log"
        with proxy_log.open("w") as log:
            command = [str(litellm), "--config", str(router_dir / "litellm_config.yaml")]
            command += ["--host", "127.0.0.1", "--port", str(port), "--telemetry", "False"]
            proxy = subprocess.Popen(
                command,
                cwd=router_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_offline_env({"LITELLM_MASTER_KEY": master_key, **keys}),
            )
        processes.append(proxy)

        for backend in backends.values():
            assert backend.process is not None
            headers = {"authorization": f"Bearer {server_key[backend.name]}"}
            _wait_http(f"{backend.api_base}/models", backend.process, backend.log, headers)
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/health/liveliness", proxy, proxy_log)
        yield Gateway(url, master_key, backends, keys, router_dir, proxy_log, redis_port)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


FAQ = [{"role": "user", "content": "What are your opening hours?"}]
COMPLEX = [
    {
        "role": "user",
        "content": "Analyze my salary history and compare the two job offers I received. "
        + "Offer A pays 20% more but the team lost three engineers last quarter. " * 8,
    },
    {"role": "assistant", "content": "Could you share the benefits of each offer?"},
    {
        "role": "user",
        "content": "Evaluate the trade-offs in depth and explain why one is the better career "
        "strategy for the next five years.",
    },
]


def _complex(variant: str) -> list[dict]:
    """COMPLEX with a different last line: the gateway caches identical requests."""
    last = {**COMPLEX[-1], "content": f"{COMPLEX[-1]['content']} ({variant})"}
    return [*COMPLEX[:-1], last]


def _served_by(gateway: Gateway, before: dict[str, int]) -> list[str]:
    after = gateway.counts()
    return [name for name in BACKENDS if after[name] > before[name]]


QUALITY = {"x-hybrid-strategy": "quality"}

# The tests below run in file order against one proxy: the budget is spent by the large answer
# in the third test, and the local servers are stopped only in the last two.


def test_simple_faq_request_is_served_locally(gateway: Gateway) -> None:
    before = gateway.counts()
    status, headers, body = gateway.chat(FAQ)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] is not None
    assert headers["x-hybrid-route"] == "local"
    assert headers["x-hybrid-model"] == SIMPLE_MODEL
    assert headers["x-litellm-model-api-base"] == gateway.backends["local"].api_base
    assert _served_by(gateway, before) == ["local"]


def test_complex_request_reaches_the_complex_local_model(gateway: Gateway) -> None:
    before = gateway.counts()
    status, headers, body = gateway.chat(_complex("complex local"))  # local_first, the default
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] is not None
    assert float(headers["x-hybrid-complexity"]) >= 7
    assert headers["x-hybrid-route"] == "local"
    assert headers["x-hybrid-model"] == COMPLEX_MODEL
    assert headers["x-litellm-model-api-base"] == gateway.backends["complex"].api_base
    assert _served_by(gateway, before) == ["complex"]


def test_complex_multi_turn_analysis_goes_to_the_large_route(gateway: Gateway) -> None:
    before = gateway.counts()
    status, headers, body = gateway.chat(COMPLEX, headers=QUALITY)
    assert status == 200, body
    assert float(headers["x-hybrid-complexity"]) >= 7
    assert headers["x-hybrid-route"] == "large"
    assert headers["x-hybrid-model"] == "large"
    assert headers["x-litellm-model-api-base"] == gateway.backends["large"].api_base
    assert _served_by(gateway, before) == ["large"]  # with the large server's API key
    assert float(headers["x-litellm-response-cost"]) > 0
    if gateway.redis_port is not None:  # the spend is shared through Redis, not kept in-process
        key = "hybridctl:cloud_spend_usd:" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        deadline = time.monotonic() + 10
        while not redis_cli(gateway, "GET", key) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert float(redis_cli(gateway, "GET", key)) > 0


def test_past_the_daily_budget_the_complex_request_takes_the_cheap_route(
    gateway: Gateway,
) -> None:
    # The previous test's large answer spent the (tiny) budget; run alone, this test spends it
    # first. Spend is recorded by a success callback just after the answer, so allow a moment.
    # The quality strategy wants the large route; with the budget spent it gets the cheapest
    # route, `local`, which is the simple model (only local_first and cost_optimized try the
    # complex one).
    for attempt in range(4):
        before = gateway.counts()
        status, headers, body = gateway.chat(_complex(f"attempt {attempt}"), headers=QUALITY)
        assert status == 200, body
        if headers["x-hybrid-route"] == "local":
            break
        time.sleep(0.5)
    assert float(headers["x-hybrid-complexity"]) >= 7
    assert headers["x-hybrid-route"] == "local"
    assert headers["x-hybrid-model"] == SIMPLE_MODEL
    assert _served_by(gateway, before) == ["local"]


def test_identical_request_is_answered_from_the_cache(gateway: Gateway) -> None:
    first = gateway.chat(_complex("cached"))
    before = gateway.counts()
    second = gateway.chat(_complex("cached"))
    assert first[0] == second[0] == 200
    assert second[2]["choices"] == first[2]["choices"]
    assert _served_by(gateway, before) == []
    if gateway.redis_port is not None:  # cached answers live in Redis beside the spend
        cached = redis_cli(gateway, "KEYS", "*").split()
        assert any(not key.startswith("hybridctl:") for key in cached), cached


def test_own_key_reaches_the_provider_with_the_users_key_only(gateway: Gateway) -> None:
    before = gateway.counts()
    user_key = "user-key-" + secrets.token_hex(8)
    status, headers, _ = gateway.chat(FAQ, headers={"x-api-key": user_key})
    # The large server accepts only the operator's key: the user's key was sent instead, and
    # no fallback spent the operator's keys on the user's behalf.
    assert status == 401
    assert _served_by(gateway, before) in ([], ["large"])  # a 401 may or may not be logged
    status, headers, body = gateway.chat(FAQ, headers={"x-api-key": gateway.keys["OPENAI_API_KEY"]})
    assert status == 200, body
    assert headers["x-hybrid-user-tier"] == "own_key"
    assert headers["x-hybrid-route"] == "large"
    assert headers["x-litellm-model-api-base"] == gateway.backends["large"].api_base
    assert user_key not in gateway.log.read_text(errors="replace")


def test_bad_routing_input_is_a_400(gateway: Gateway) -> None:
    status, _, body = gateway.chat(FAQ, headers={"x-hybrid-strategy": "cheapest-please"})
    assert status == 400
    assert "unknown routing strategy" in json.dumps(body)


def test_prometheus_metrics_count_the_routed_requests(gateway: Gateway) -> None:
    with urllib.request.urlopen(f"{gateway.url}/metrics/", timeout=REQUEST_TIMEOUT_S) as response:
        metrics = response.read().decode()
    local_base = gateway.backends["local"].api_base
    assert any(
        line.startswith("litellm_deployment_success_responses_total") and local_base in line
        for line in metrics.splitlines()
    )


def test_no_secret_reaches_the_rendered_files_or_the_log(gateway: Gateway) -> None:
    secrets_used = [gateway.master_key, *gateway.keys.values()]
    for path in [*gateway.router_dir.iterdir(), gateway.log]:
        text = path.read_text(errors="replace")
        for value in secrets_used:
            assert value not in text, f"a secret appears in {path.name}"


def test_complex_local_model_down_falls_back_to_the_cloud(gateway: Gateway) -> None:
    gateway.backends["complex"].stop()
    before = gateway.counts()
    status, headers, body = gateway.chat(_complex("complex model down"))
    assert status == 200, body
    assert headers["x-hybrid-route"] == "local"  # the policy's choice, the complex model ...
    # ... failed over; past the (spent) budget the cloud routes go cheapest first.
    assert headers["x-hybrid-model"] == "medium"
    assert headers["x-litellm-model-api-base"] == gateway.backends["medium"].api_base
    assert int(headers.get("x-litellm-attempted-fallbacks", "0")) >= 1
    assert _served_by(gateway, before) == ["medium"]


def test_local_server_down_falls_back_to_the_cloud(gateway: Gateway) -> None:
    gateway.backends["local"].stop()
    before = gateway.counts()
    status, headers, body = gateway.chat(
        [{"role": "user", "content": "How do I reset my password?"}]
    )
    assert status == 200, body
    assert headers["x-hybrid-route"] == "local"  # the policy's choice ...
    assert (
        headers["x-litellm-model-api-base"] == gateway.backends["medium"].api_base
    )  # ... failed over
    assert headers["x-hybrid-model"] == "medium"
    assert int(headers.get("x-litellm-attempted-fallbacks", "0")) >= 1
    assert _served_by(gateway, before) == ["medium"]
