"""The booted box: `hybridctl deploy --provider local` runs the rendered stack under Docker.

Each class deploys one tier with generated models (seeded with --model-file), runs a fake
OpenAI-compatible cloud vendor in a container on the box's own network, and checks the box
through the TLS proxy on 127.0.0.1, verifying the certificate with the stack's own CA.

Needs a Docker engine with Compose v2 and the stand-in images `scripts/local_images.sh` builds
(its images file in $HYBRIDCTL_TEST_IMAGES). `scripts/test.sh` provides all three and sets
HYBRIDCTL_REQUIRE_BOX=1, which turns a missing piece into a failure instead of a skip.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.catalog import load_catalog
from tests.box_support import IMAGES_ENV, master_key, run_cli, skip_unless_box_runs

pytestmark = pytest.mark.box

REPO = Path(__file__).resolve().parent.parent
FAKE_CLOUD = Path(__file__).parent / "box" / "fake_cloud.py"
TIMEOUT_S = 240
# Small enough that the first cloud answer (4,000 tokens at the route's price) spends it.
TEST_BUDGET_USD = 0.0001
FAKE_KEYS = {
    name: f"test-{name.lower().replace('_', '-')}-0123456789"
    for name in (
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GROQ_API_KEY",
        "OPENAI_API_KEY",
        "OPENROUTER_API_KEY",
    )
}
SIMPLE = [{"role": "user", "content": "What are your opening hours?"}]
COMPLEX = [
    {"role": "user", "content": "Analyze the trade-offs of our two pricing strategies."},
    {"role": "assistant", "content": "Could you share the figures for each?"},
    {
        "role": "user",
        "content": "Evaluate them in depth and write a short poem that explains why one wins.",
    },
]


skip_unless_box_runs()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body["choices"][0]["message"]["content"])


@dataclass
class Box:
    name: str
    tier: str
    state: Path
    env: dict[str, str]
    outputs: dict[str, Any]
    deploy_output: str
    models: dict[str, Path]

    @property
    def url(self) -> str:
        return str(self.outputs["endpoint"])

    @property
    def ca(self) -> Path:
        return Path(self.outputs["ca_cert"])

    @property
    def bundle(self) -> Path:
        return Path(self.outputs["bundle"])

    def master_key(self) -> str:
        return master_key(self.bundle)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, check=check)

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", self.name, "--project-directory", str(self.bundle), *args],
            capture_output=True,
            text=True,
            timeout=600,
        )

    def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        key: bool = True,
    ) -> Answer:
        """A request through the proxy, TLS verified against the box's own CA."""
        context = ssl.create_default_context(cafile=str(self.ca))
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key:
            sent["Authorization"] = f"Bearer {self.master_key()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=context) as response:
                raw, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as exc:
            raw, status, got = exc.read(), exc.code, exc.headers
        try:
            parsed = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            parsed = {"raw": raw.decode(errors="replace")}
        return Answer(status, {k.lower(): v for k, v in got.items()}, parsed)

    def chat(self, messages: list[dict[str, str]], **headers: str) -> Answer:
        body = {"model": "hybrid", "messages": messages, "max_tokens": 8}
        return self.request("/v1/chat/completions", body, dict(headers))

    def wait_local(
        self, messages: list[dict[str, str]], model: str, seconds: float = 240
    ) -> Answer:
        """Ask until a local model answers (after a restart the server loads, then warms)."""
        deadline = time.monotonic() + seconds
        while True:
            answer = self.chat(messages)
            if (
                answer.status == 200
                and answer.headers.get("x-hybrid-model") == model
                and ("fake-cloud" not in answer.text)
            ):
                return answer
            assert time.monotonic() < deadline, (answer.status, answer.headers, answer.body)
            time.sleep(5)

    def fake_cloud(self, action: str) -> None:
        """Connect the fake vendor to the box's edge network, or disconnect it (before `down`)."""
        args = ["--alias", "fake-cloud"] if action == "connect" else []
        subprocess.run(
            ["docker", "network", action, *args, f"{self.name}_edge", f"{self.name}-fake-cloud"],
            capture_output=True,
        )

    def services(self) -> dict[str, dict[str, Any]]:
        done = self.compose("ps", "--all", "--format", "json")
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def wait_healthy(self, service: str, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while self.services().get(service, {}).get("Health") != "healthy":
            assert time.monotonic() < deadline, self.compose("logs", "--tail", "30", service)
            time.sleep(3)


def _test_catalog(dest: Path) -> Path:
    data = yaml.safe_load((REPO / "tiers.yaml").read_text())
    data["routing"]["daily_cloud_budget_usd"] = TEST_BUDGET_USD
    # Random-weight models answer with low confidence: no escalation, so a local answer stays local.
    for user_tier in data["routing"]["user_tiers"].values():
        user_tier["min_confidence"] = None
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def _models(folder: Path, tier: str) -> dict[str, Path]:
    from hybridctl.testing.modelgen import write_tiny_model

    catalog = load_catalog()
    return {
        entry.model: write_tiny_model(folder / f"{entry.model}.gguf", seed=i)
        for i, entry in enumerate(catalog.tier(tier).models)
    }


def _deploy(tmp: Path, name: str, tier: str) -> Box:
    state = tmp / "state"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        **FAKE_KEYS,
        "HOME": str(tmp / "home"),
        "HYBRIDCTL_STATE_DIR": str(state),
        "HYBRIDCTL_CATALOG": str(_test_catalog(tmp / "tiers.yaml")),
        "HYBRIDCTL_IMAGES": os.environ[IMAGES_ENV],
        "COLUMNS": "200",
    }
    models = _models(tmp / "models", tier)
    box = Box(name, tier, state, env, {}, "", models)
    seeds = [arg for model, path in models.items() for arg in ("--model-file", f"{model}={path}")]
    done = box.cli(
        "deploy",
        "--provider",
        "local",
        "--tier",
        tier,
        "--name",
        name,
        *seeds,
        "--allow-unverified",
        "--route-url",
        "medium=http://fake-cloud:9000/v1",
        "--route-url",
        "large=http://fake-cloud:9000/v1",
        check=False,
    )
    box.deploy_output = done.stdout + done.stderr
    if done.returncode != 0:
        logs = box.compose("logs", "--tail", "40").stdout if box.bundle.exists() else ""
        pytest.fail(f"deploy failed ({done.returncode}):\n{box.deploy_output}\n{logs}")
    box.outputs = json.loads(box.cli("outputs", name, "--json").stdout)
    # The fake vendor joins the box's edge network under the name the route URLs use.
    subprocess.run(
        [
            "docker",
            "run",
            "--detach",
            "--name",
            f"{name}-fake-cloud",
            "--network",
            f"{name}_edge",
            "--network-alias",
            "fake-cloud",
            "--volume",
            f"{FAKE_CLOUD}:/fake_cloud.py:ro",
            "--entrypoint",
            "python3",
            _images()["gateway"],
            "/fake_cloud.py",
        ],
        check=True,
        capture_output=True,
    )
    return box


def _images() -> dict[str, Any]:
    return yaml.safe_load(Path(os.environ[IMAGES_ENV]).read_text())


def _teardown(box: Box) -> None:
    subprocess.run(["docker", "rm", "--force", f"{box.name}-fake-cloud"], capture_output=True)
    if box.bundle.exists():
        box.cli("destroy", box.name, "--yes", check=False)


def _fake_served(box: Box) -> int:
    done = subprocess.run(
        [
            "docker",
            "exec",
            f"{box.name}-fake-cloud",
            "python3",
            "-c",
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9000/count')"
            ".read().decode())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(done.stdout)["served"])


def _redis(box: Box, *args: str) -> str:
    done = box.compose("exec", "-T", "redis", "redis-cli", "--no-auth-warning", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _spend_key() -> str:
    return f"hybridctl:cloud_spend_usd:{datetime.now(UTC).strftime('%Y-%m-%d')}"


@pytest.fixture(scope="class")
def box(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """The class's tier deployed (one box at a time: both publish 127.0.0.1:443)."""
    tier, name = request.cls.TIER, request.cls.NAME
    deployed = _deploy(tmp_path_factory.mktemp(name), name, tier)
    yield deployed
    _teardown(deployed)


class TestTierOne:
    """Tier 1: one local model, no Redis or monitoring; the defaults a first user gets."""

    TIER, NAME = "1", "box-t1"

    def test_deploy_ends_with_endpoint_ca_key_and_a_working_curl(self, box: Box) -> None:
        out = box.deploy_output
        assert "Deployed box-t1: tier 1 on local" in out
        for key in ("endpoint", "ca_cert", "api_key", "curl"):
            assert key in out
        assert box.url == "https://localhost"
        assert box.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert box.master_key() not in out  # the key's place is shown, never the key
        done = subprocess.run(
            ["bash", "-c", box.outputs["curl"]], capture_output=True, text=True, timeout=TIMEOUT_S
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["choices"][0]["message"]["role"] == "assistant"

    def test_tls_is_verified_with_the_stacks_own_ca(self, box: Box) -> None:
        with pytest.raises(urllib.error.URLError) as caught:
            urllib.request.urlopen(box.url + "/health/liveliness", timeout=30)
        assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)
        assert box.request("/health/liveliness", key=False).status == 200

    def test_a_simple_request_is_answered_by_the_local_model(self, box: Box) -> None:
        before = _fake_served(box)
        answer = box.chat(SIMPLE)
        assert answer.status == 200, answer.body
        assert answer.headers["x-hybrid-route"] == "local"
        assert answer.headers["x-hybrid-model"] == "tinyllama-1.1b-chat-q4_k_m"
        assert _fake_served(box) == before

    def test_only_the_proxy_publishes_ports_on_loopback_80_and_443(self, box: Box) -> None:
        published = {
            name: [
                (p["URL"], p["PublishedPort"], p["TargetPort"])
                for p in row.get("Publishers") or []
                if p.get("PublishedPort")
            ]
            for name, row in box.services().items()
        }
        assert {name for name, ports in published.items() if ports} == {"proxy"}
        assert sorted(published["proxy"]) == [("127.0.0.1", 80, 80), ("127.0.0.1", 443, 443)]

    @pytest.mark.parametrize(
        "path", ["/metrics", "/metrics/", "/ui/", "/openapi.json", "/routes", "/key/generate", "/"]
    )
    def test_admin_and_metrics_paths_answer_404_through_the_proxy(
        self, box: Box, path: str
    ) -> None:
        assert box.request(path).status == 404

    def test_the_api_needs_a_key(self, box: Box) -> None:
        answer = box.request(
            "/v1/chat/completions", {"model": "hybrid", "messages": SIMPLE}, key=False
        )
        assert answer.status == 401
        answer = box.request(
            "/v1/chat/completions",
            {"model": "hybrid", "messages": SIMPLE},
            {"Authorization": "Bearer sk-not-the-key"},
            key=False,
        )
        assert answer.status in (400, 401), answer.body

    def test_a_complex_request_goes_to_the_cloud_until_the_budget_is_spent(self, box: Box) -> None:
        before = _fake_served(box)
        answer = box.chat(COMPLEX)
        assert answer.status == 200, answer.body
        assert answer.headers["x-hybrid-route"] == "large"
        assert answer.text.startswith("fake-cloud answered")
        assert _fake_served(box) == before + 1
        # That answer spent the test catalog's daily budget: the next one goes to the cheapest
        # cloud route only (the catalog's default over-budget behaviour, seed 002's).
        answer = box.chat(
            [*COMPLEX[:-1], {"role": "user", "content": COMPLEX[-1]["content"] + "!"}]
        )
        assert answer.status == 200, answer.body
        assert answer.headers["x-hybrid-route"] == "medium"
        assert _fake_served(box) == before + 2

    def test_with_the_model_server_stopped_the_cloud_answers(self, box: Box) -> None:
        assert box.compose("stop", "llm").returncode == 0
        try:
            before = _fake_served(box)
            answer = box.chat([{"role": "user", "content": "How do I reset my password?"}])
            assert answer.status == 200, answer.body
            assert answer.headers["x-hybrid-route"] == "local"  # the policy's choice, failed over
            assert answer.text.startswith("fake-cloud answered")
            assert _fake_served(box) == before + 1
        finally:
            assert box.compose("start", "llm").returncode == 0
        box.wait_healthy("llm")
        box.wait_local(SIMPLE, "tinyllama-1.1b-chat-q4_k_m")

    def test_bench_deployment_times_its_own_server_beside_the_plan(self, box: Box) -> None:
        # Figures only (a tiny model is far faster than the catalog's): the exit code may be 1.
        args = ["--repetitions", "1", "--prompt-tokens", "8", "--gen-tokens", "4"]
        done = box.cli("bench", "--deployment", box.name, *args, "--max-tokens", "4", "--json",
                       check=False)  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr and "download" not in done.stderr
        result = json.loads(done.stdout)
        assert result["kind"] == "box" and result["limits"]["threads"] >= 1
        (row,) = result["models"]
        assert row["predicted_tokens_per_s"] > 0 and row["measured_tokens_per_s"] > 0
        serving = result["serving"]
        assert serving["clients"] == serving["promised_concurrency"]
        assert serving["predicted_p95_s"] > 0 and serving["measured_p95_s"] > 0

    def test_status_outputs_and_deployments_show_the_local_box(self, box: Box) -> None:
        status = box.cli("status", box.name).stdout
        assert "box-t1: deployed; tier 1 on local" in status
        assert "service proxy" in status and "127.0.0.1:443->443" in status
        live = json.loads(box.cli("status", box.name, "--json").stdout)["live"]
        assert live["services"]["gateway"]["health"] == "healthy"
        listed = json.loads(box.cli("deployments", "--json").stdout)
        assert [(d["name"], d["provider"]) for d in listed] == [("box-t1", "local")]

    def test_down_then_deploy_again_does_not_fetch_the_models_again(self, box: Box) -> None:
        box.fake_cloud("disconnect")
        assert box.compose("down").returncode == 0  # keeps the volumes
        seeds = [a for m, p in box.models.items() for a in ("--model-file", f"{m}={p}")]
        done = box.cli(
            "deploy",
            "--provider",
            "local",
            "--tier",
            "1",
            "--name",
            box.name,
            *seeds,
            "--allow-unverified",
            "--route-url",
            "medium=http://fake-cloud:9000/v1",
            "--route-url",
            "large=http://fake-cloud:9000/v1",
        )
        assert "unchanged" in done.stdout + done.stderr
        logs = box.compose("logs", "models-init").stdout
        assert "already present" in logs and "download" not in logs.replace("downloads", "")
        box.fake_cloud("connect")
        box.wait_local(SIMPLE, "tinyllama-1.1b-chat-q4_k_m")

    def test_destroy_removes_containers_volumes_and_the_record(self, box: Box) -> None:
        subprocess.run(["docker", "rm", "--force", f"{box.name}-fake-cloud"], capture_output=True)
        done = box.cli("destroy", box.name, "--yes")
        assert "Destroyed box-t1" in done.stdout
        assert box.services() == {}
        volumes = subprocess.run(
            [
                "docker",
                "volume",
                "ls",
                "--quiet",
                "--filter",
                f"label=com.docker.compose.project={box.name}",
            ],
            capture_output=True,
            text=True,
        ).stdout
        assert volumes.strip() == ""
        assert box.cli("status", box.name, check=False).returncode == 2


class TestTwoModelTier:
    """Tier 2: two local models by role, Redis for the cache and spend, Prometheus."""

    TIER, NAME = "2", "box-t2"

    def test_simple_and_complex_requests_reach_their_local_models(self, box: Box) -> None:
        roles = {entry.role: entry.model for entry in load_catalog().tier("2").models}
        simple = box.chat(SIMPLE)
        assert simple.status == 200, simple.body
        assert simple.headers["x-hybrid-model"] == roles["simple"]
        complex_ = box.chat(COMPLEX)
        assert complex_.status == 200, complex_.body
        assert complex_.headers["x-hybrid-model"] == roles["complex"]
        assert "fake-cloud" not in simple.text + complex_.text

    def test_a_repeated_request_is_answered_from_the_cache(self, box: Box) -> None:
        messages = [{"role": "user", "content": "What is your refund policy for the cache test?"}]
        first = box.chat(messages)
        second = box.chat(messages)
        assert first.status == second.status == 200
        assert second.body["id"] == first.body["id"]
        assert second.body["choices"] == first.body["choices"]
        keys = _redis(box, "--scan").split()
        assert any(not key.startswith("hybridctl:") for key in keys), keys

    def test_prometheus_reports_the_gateway_and_model_server_up(self, box: Box) -> None:
        deadline = time.monotonic() + 120
        while True:
            done = box.compose(
                "exec",
                "-T",
                "prometheus",
                "wget",
                "-q",
                "-O",
                "-",
                "http://127.0.0.1:9090/api/v1/targets",
            )
            targets = json.loads(done.stdout or "{}").get("data", {}).get("activeTargets", [])
            health = {t["labels"]["job"]: t["health"] for t in targets}
            wanted = {"gateway", *(f"llm-{m}" for m in box.models)}
            if wanted <= set(health) and all(health[j] == "up" for j in wanted):
                break
            assert time.monotonic() < deadline, health
            time.sleep(5)

    def test_spend_survives_a_redis_restart_and_down_up(self, box: Box) -> None:
        answer = box.chat(COMPLEX, **{"x-hybrid-strategy": "quality"})
        assert answer.status == 200, answer.body
        assert answer.text.startswith("fake-cloud answered")
        deadline = time.monotonic() + 30  # the gateway records spend after it answers
        while not (spent := float(_redis(box, "get", _spend_key()) or 0)):
            assert time.monotonic() < deadline, "no spend recorded"
            time.sleep(1)
        assert box.compose("restart", "redis").returncode == 0
        box.wait_healthy("redis")
        assert float(_redis(box, "get", _spend_key())) == pytest.approx(spent)
        box.fake_cloud("disconnect")
        assert box.compose("down").returncode == 0
        assert box.compose("up", "--detach", "--wait", "redis").returncode == 0
        assert float(_redis(box, "get", _spend_key())) == pytest.approx(spent)

    def test_redis_runs_as_a_non_root_user(self, box: Box) -> None:
        done = box.compose("exec", "-T", "redis", "id", "-u")
        assert done.stdout.strip() == "999"


def _raw(
    box: Box,
    method: str,
    path: str,
    *,
    port: int = 443,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    body_size: int = 0,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (no redirect followed), sending `body`, or body_size bytes
    of filler that the proxy may refuse before it has read them all."""
    if port == 443:
        context = ssl.create_default_context(cafile=str(box.ca))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "localhost", port, context=context, timeout=TIMEOUT_S
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    sent = dict(headers or {})
    if chunked:
        sent["Transfer-Encoding"] = "chunked"
    elif body_size or body:
        sent["Content-Length"] = str(body_size or len(body))
    conn.putrequest(method, path, skip_host="Host" in sent)
    for name, value in sent.items():
        conn.putheader(name, value)
    conn.endheaders()
    block = b"a" * 65536
    try:
        if body:
            conn.send(body)
        left = body_size
        while left > 0:
            piece = block[: min(left, len(block))]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            left -= len(piece)
        if chunked:
            conn.send(b"0\r\n\r\n")
    except OSError:  # a broken pipe, a reset or a TLS EOF: the proxy's answer is waiting
        pass
    response = conn.getresponse()
    got = {k.lower(): v for k, v in response.getheaders()}
    data = response.read()
    conn.close()
    return response.status, got, data


# Stops the gateway process (a child of the container's init) as a blocked event loop would.
FREEZE_THE_GATEWAY = (
    "import os, signal; from hybrid_hook import health; "
    "[os.kill(pid, signal.SIGSTOP) for pid in health.init_children()]"
)


def _gateway_memory_mib(box: Box) -> float:
    container = box.services()["gateway"]["Name"]
    done = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container],
        capture_output=True,
        text=True,
        check=True,
    )
    used = done.stdout.split("/")[0].strip()
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}
    for unit, factor in units.items():
        if used.endswith(unit):
            return float(used[: -len(unit)]) * factor
    raise AssertionError(f"unreadable memory figure {done.stdout!r}")


def _client_key(box: Box, name: str, *args: str) -> str:
    done = box.cli("keys", "add", name, *args, "-d", box.name)
    return next(w for w in done.stdout.split() if w.startswith("sk-hyb-"))


class TestUnderHostileTraffic:
    """Tier 2 as an attacker and an outage would try it: bounded bodies, no way around the
    budget, answers in seconds when a part is down, and nothing internal in what leaves."""

    TIER, NAME = "2", "box-hostile"

    def test_a_huge_body_is_refused_by_the_proxy_and_the_gateway_keeps_serving(
        self, box: Box
    ) -> None:
        limit = load_catalog().routing.max_request_mib or 2
        for chunked in (False, True):
            status, _, _ = _raw(
                box,
                "POST",
                "/v1/chat/completions",
                headers={"Content-Type": "application/json"},
                body_size=(100 if not chunked else limit + 1) * 2**20,
                chunked=chunked,
            )
            assert status == 413, (chunked, status)
        assert box.services()["gateway"]["State"] == "running"
        assert box.chat(SIMPLE).status == 200

    def test_the_gateways_memory_holds_under_large_requests(self, box: Box) -> None:
        """Measured here: 332 MiB idle, 383 after the first 20 requests of 1.6 MB (tokenizers and
        caches load once), then 388, 393, 397, 397, 396 after each next 20: it levels off."""
        filler = "lorem ipsum dolor sit amet " * 60_000  # 1.6 MB, under the proxy's limit
        body = {
            "model": "local",
            "messages": [{"role": "user", "content": filler}],
            "max_tokens": 4,
        }

        def twenty() -> None:
            for _ in range(20):
                answer = box.request("/v1/chat/completions", body)
                assert answer.status in (200, 400), answer.body  # the local context is exceeded

        twenty()
        before = _gateway_memory_mib(box)
        twenty()
        after = _gateway_memory_mib(box)
        assert after <= before * 1.10, (before, after)

    def test_a_long_unbroken_word_from_a_client_key_does_not_freeze_the_gateway(
        self, box: Box
    ) -> None:
        key = _client_key(box, "word", "--tier", "free")
        word = "x" * 1_500_000
        started = time.monotonic()
        answer = box.request(
            "/v1/chat/completions",
            {"model": "hybrid", "messages": [{"role": "user", "content": word}], "max_tokens": 4},
            {"Authorization": f"Bearer {key}"},
            key=False,
        )
        assert answer.status in (200, 400), answer.body
        assert time.monotonic() - started < 60
        assert box.request("/health/liveliness", key=False).status == 200

    def test_a_free_key_cannot_name_its_own_fallbacks_or_retries(self, box: Box) -> None:
        key = _client_key(box, "bypass", "--tier", "free")
        too_long = "Please summarise this. " + "word " * 6_000  # past the local context
        answer = box.request(
            "/v1/chat/completions",
            {
                "model": "hybrid",
                "messages": [{"role": "user", "content": too_long}],
                "max_tokens": 4,
                "context_window_fallbacks": [{"local": ["large"]}],
                "fallbacks": [{"local": ["large"]}],
                "num_retries": 6,
            },
            {"Authorization": f"Bearer {key}"},
            key=False,
        )
        assert answer.headers.get("x-hybrid-model") != "large", answer.headers
        assert "large" not in json.dumps(answer.body).replace("larger", "")

    def test_responses_name_nothing_behind_the_proxy(self, box: Box) -> None:
        answer = box.chat([{"role": "user", "content": "What is your refund policy today?"}])
        assert answer.status == 200, answer.body
        leaks = [h for h in answer.headers if h.startswith(("x-litellm", "llm_provider"))]
        assert leaks == [] and "server" not in answer.headers
        # The body names the model that answered, not the name asked for.
        assert answer.body["model"] == answer.headers["x-hybrid-model"]
        status, headers, _ = _raw(box, "GET", "/v1/models/", headers=self._auth(box))
        assert status == 200 and "location" not in headers
        for path in ("/v1/completions", "/v1/embeddings"):  # not served: 404, never a 500
            status, _, data = _raw(box, "POST", path, headers=self._auth(box), body=b"{}")
            assert status == 404, (path, data)
        status, _, data = _raw(
            box, "POST", "/v1/chat/completions", headers=self._auth(box), body=b"{}"
        )
        assert status == 400, data

    def test_plain_http_redirects_to_the_published_https_port_not_the_clients_host(
        self, box: Box
    ) -> None:
        status, headers, _ = _raw(
            box, "GET", "/v1/models", port=80, headers={"Host": "evil.example"}
        )
        assert status == 308
        assert headers["location"] == "https://127.0.0.1/v1/models"

    def test_with_the_model_server_paused_answers_come_in_seconds(self, box: Box) -> None:
        assert box.compose("pause", "llm").returncode == 0
        try:
            started = time.monotonic()
            answer = box.chat([{"role": "user", "content": "How do I reset my password now?"}])
            assert answer.status == 200 and answer.text.startswith("fake-cloud"), answer.body
            named = box.request(
                "/v1/chat/completions",
                {"model": "local", "messages": SIMPLE, "max_tokens": 4},
            )
            assert named.status == 503, named.body  # no route but local: not a 429
            assert "not answering" in json.dumps(named.body)
            assert time.monotonic() - started < 20
        finally:
            assert box.compose("unpause", "llm").returncode == 0
        started = time.monotonic()
        back = box.request(
            "/v1/chat/completions", {"model": "local", "messages": SIMPLE, "max_tokens": 4}
        )
        assert back.status == 200, back.body  # no cooldown after the server is back
        assert time.monotonic() - started < 60

    def test_with_redis_paused_a_client_key_gets_a_quick_503(self, box: Box) -> None:
        key = _client_key(box, "redis-paused", "--tier", "paid")
        assert box.compose("pause", "redis").returncode == 0
        try:
            started = time.monotonic()
            answer = box.request(
                "/v1/chat/completions",
                {"model": "hybrid", "messages": SIMPLE, "max_tokens": 4},
                {"Authorization": f"Bearer {key}"},
                key=False,
            )
            assert answer.status == 503, answer.body
            assert time.monotonic() - started < 10
            started = time.monotonic()
            operator = box.chat([{"role": "user", "content": "Where is your office today?"}])
            assert operator.status == 200, operator.body
            assert time.monotonic() - started < 30
        finally:
            assert box.compose("unpause", "redis").returncode == 0

    def test_a_gateway_that_stops_answering_is_restarted(self, box: Box) -> None:
        container = box.services()["gateway"]["Name"]
        done = subprocess.run(
            ["docker", "exec", container, "python3", "-c", FREEZE_THE_GATEWAY],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 300  # the check's start grace, three failures, a restart
        while True:
            restarts = subprocess.run(
                ["docker", "inspect", "--format", "{{.RestartCount}}", container],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if restarts not in ("", "0"):
                break
            assert time.monotonic() < deadline, "the frozen gateway was never restarted"
            time.sleep(5)
        box.wait_healthy("gateway")
        assert box.chat(SIMPLE).status == 200

    @staticmethod
    def _auth(box: Box) -> dict[str, str]:
        return {"Authorization": f"Bearer {box.master_key()}", "Content-Type": "application/json"}
