"""End to end: the rendered router config in a real LiteLLM proxy, in front of llama.cpp servers.

Four llama-cpp-python OpenAI-compatible servers run tiny generated models on loopback: two play
tier 2's local models (the simple one behind the `local` route, and the complex one, reached by
its catalog name), two play the medium and large cloud routes (each cloud one demands its API
key, so the test also proves the os.environ key references resolve). The proxy runs the
rendered litellm_config.yaml and the hook package unchanged except for the api_bases.

LiteLLM lives in its own virtualenv (its proxy extra pins rich<14, the CLI needs rich 15): found
at $HYBRIDCTL_LITELLM, else .cache/litellm-venv/bin/litellm, else `litellm` on PATH. Without it
the test skips, unless HYBRIDCTL_REQUIRE_GATEWAY=1 (CI) makes that a failure.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import secrets
import shutil
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
from hybridctl.gateway.route_record import parse_record
from hybridctl.render.router import (
    build_router_context,
    point_redis_at,
    point_routes_at,
    write_router,
)
from tests.router_fixtures import (
    Backend,
    free_port,
    litellm_executable,
    missing,
    offline_env,
    start_redis,
    wait_http,
)
from tests.router_fixtures import redis_cli as _redis_cli

TIER = "2"
_ROLES = local_roles(load_catalog().tier(TIER))
SIMPLE_MODEL = _ROLES.simple.model
COMPLEX_MODEL = _ROLES.complex.model if _ROLES.complex else ""
# One server each: the `local` route (the simple model), the complex local model, the clouds.
BACKENDS = ("local", "complex", "medium", "large")
REQUEST_TIMEOUT_S = 60


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


def redis_cli(gateway: Gateway, *args: str) -> str:
    assert gateway.redis_port is not None
    return _redis_cli(gateway.redis_port, gateway.keys["REDIS_PASSWORD"], *args)


@pytest.fixture(scope="module", params=["in-process", "redis"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The proxy with cache and daily spend in its own process, or in a real Redis."""
    litellm = litellm_executable()
    if litellm is None:
        missing("LiteLLM proxy not installed (see tests/test_gateway_e2e.py docstring)")
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        missing("llama-cpp-python with its server extras is not installed")
    from hybridctl.testing.modelgen import write_tiny_model

    with_redis = request.param == "redis"
    if with_redis and (shutil.which("redis-server") is None or shutil.which("redis-cli") is None):
        missing("redis-server is not installed (Debian package redis-server)")
    work = tmp_path_factory.mktemp("gateway")
    keys = {"GROQ_API_KEY": secrets.token_hex(16), "OPENAI_API_KEY": secrets.token_hex(16)}
    keys["REDIS_PASSWORD"] = secrets.token_hex(16)
    server_key = {
        "local": None,
        "complex": None,
        "medium": keys["GROQ_API_KEY"],
        "large": keys["OPENAI_API_KEY"],
    }
    backends = {name: Backend(name, free_port(), work / f"{name}.log") for name in BACKENDS}
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
                    command, stdout=log, stderr=subprocess.STDOUT, env=offline_env({})
                )
            processes.append(backend.process)

        assert COMPLEX_MODEL, f"tier {TIER} needs a complex local model for this test"
        context = build_router_context(load_catalog(), TIER, "hetzner")
        # The complex local model is reached by its catalog name. A budget that one cloud
        # answer exceeds.
        api_bases = {name: b.api_base for name, b in backends.items()}
        api_bases[COMPLEX_MODEL] = api_bases.pop("complex")
        context = point_routes_at(context, api_bases, budget_usd=1e-7, redis=False)
        # Random-weight models answer with next to no confidence: escalation (tested in
        # test_gateway_policy.py) would send every local answer up a route here.
        tiers = {n: {**t, "min_confidence": None} for n, t in context.policy["user_tiers"].items()}
        context = context.model_copy(update={"policy": {**context.policy, "user_tiers": tiers}})
        redis_port = None
        if with_redis:
            redis_port = start_redis(work, keys["REDIS_PASSWORD"], processes)
            context = point_redis_at(context, "127.0.0.1", redis_port)
        router_dir = work / "router"
        write_router(context, router_dir)

        master_key = "sk-" + secrets.token_hex(16)
        port = free_port()
        proxy_log = work / "proxy.log"
        with proxy_log.open("w") as log:
            command = [str(litellm), "--config", str(router_dir / "litellm_config.yaml")]
            command += ["--host", "127.0.0.1", "--port", str(port), "--telemetry", "False"]
            proxy = subprocess.Popen(
                command,
                cwd=router_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=offline_env({"LITELLM_MASTER_KEY": master_key, **keys}),
            )
        processes.append(proxy)

        for backend in backends.values():
            assert backend.process is not None
            headers = {"authorization": f"Bearer {server_key[backend.name]}"}
            wait_http(f"{backend.api_base}/models", backend.process, backend.log, headers)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/liveliness", proxy, proxy_log)
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


def test_past_the_daily_budget_the_complex_request_takes_the_cheapest_cloud_route(
    gateway: Gateway,
) -> None:
    # The previous test's large answer spent the (tiny) budget; run alone, this test spends it
    # first. Spend is recorded by a success callback just after the answer, so allow a moment.
    # The quality strategy wants the large route; with the budget spent the catalog's
    # over_budget (cheapest_cloud, seed 002's "Groq only") gives it the cheapest cloud route.
    for attempt in range(4):
        before = gateway.counts()
        status, headers, body = gateway.chat(_complex(f"attempt {attempt}"), headers=QUALITY)
        assert status == 200, body
        if headers["x-hybrid-route"] == "medium":
            break
        time.sleep(0.5)
    assert float(headers["x-hybrid-complexity"]) >= 7
    assert headers["x-hybrid-route"] == "medium"
    assert headers["x-hybrid-model"] == "medium"
    assert _served_by(gateway, before) == ["medium"]


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
    own = {"x-api-key": user_key, "x-hybrid-provider": "openai"}
    status, headers, _ = gateway.chat(FAQ, headers=own)
    # The large server accepts only the operator's key: the user's key was sent instead, and
    # no fallback spent the operator's keys on the user's behalf.
    assert status == 401
    assert _served_by(gateway, before) in ([], ["large"])  # a 401 may or may not be logged
    own = {"x-api-key": gateway.keys["OPENAI_API_KEY"], "x-hybrid-provider": "openai"}
    status, headers, body = gateway.chat(FAQ, headers=own)
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
    # The hook's own record: requests per need band and route (counts, never content), in the
    # form `hybridctl route refit` reads.
    bands = parse_record(metrics)
    assert sum(band.requests for band in bands) >= 1
    assert {route for band in bands for route in band.routes} <= {"local", "medium", "large"}


def test_no_secret_reaches_the_rendered_files_or_the_log(gateway: Gateway) -> None:
    secrets_used = [gateway.master_key, *gateway.keys.values()]
    rendered = [path for path in gateway.router_dir.rglob("*") if path.is_file()]
    for path in [*rendered, gateway.log]:
        text = path.read_text(errors="replace")
        for value in secrets_used:
            assert value not in text, f"a secret appears in {path.name}"


def test_complex_local_model_down_falls_back_to_the_cloud(gateway: Gateway) -> None:
    gateway.backends["complex"].stop()
    before = gateway.counts()
    status, headers, body = gateway.chat(_complex("complex model down"))
    assert status == 200, body
    assert headers["x-hybrid-route"] == "local"  # the policy's choice, the complex model ...
    # ... did not answer its health check, so the hook sent it on; past the (spent) budget
    # the cloud routes go cheapest first.
    assert headers["x-hybrid-model"] == "medium"
    assert headers["x-litellm-model-api-base"] == gateway.backends["medium"].api_base
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
    assert _served_by(gateway, before) == ["medium"]
