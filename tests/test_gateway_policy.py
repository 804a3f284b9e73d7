"""End to end: the gateway's policy with client keys, budgets, own keys and escalation.

Real processes: two LiteLLM proxies (the rendered config and hook, unchanged but for the
addresses) sharing one append-only redis-server, a llama-cpp-python server on a generated GGUF
playing the local models, and fake OpenAI-, Anthropic- and Groq-compatible vendors that record
every request and the key it carried. Client keys are made with the hook package's keys module,
the same script `hybridctl keys` runs inside the gateway container.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.gateway.route_record import parse_record
from tests.gateway_fixtures import (
    BUDGET_USD,
    LARGE_VENDORS,
    Deployment,
    ScriptRunner,
    chat,
    faq,
    hard,
    running_deployment,
    spend_key,
    unique,
)
from tests.router_fixtures import (
    free_port,
    litellm_executable,
    start_proxy,
    start_redis,
    stop,
    wait_http,
)

QUALITY = {"x-hybrid-strategy": "quality"}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_deployment(tmp_path_factory.mktemp("policy")) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def fresh_budget(box: Deployment) -> None:
    """Each test starts with today's cloud spend at zero."""
    box.redis("DEL", spend_key())


def _wait_spend(box: Deployment, key: str, at_least: float) -> float:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        value = box.redis("GET", key)
        if value and float(value) >= at_least:
            return float(value)
        time.sleep(0.2)
    raise AssertionError(f"{key} did not reach {at_least} (is {box.redis('GET', key)!r})")


def test_the_key_decides_the_user_tier_and_a_forged_header_changes_nothing(
    box: Deployment,
) -> None:
    key = box.add_key("free")
    before = box.counts()
    forged = {**QUALITY, "x-hybrid-user-tier": "paid"}
    status, headers, body = chat(box.gateways[0], key, hard(), headers=forged)
    assert status == 200, body
    assert headers["x-hybrid-user-tier"] == "free"
    assert headers["x-hybrid-route"] in ("local", "medium")
    after = box.counts()
    assert all(after[v] == before[v] for v in LARGE_VENDORS)


@pytest.mark.parametrize(
    "model",
    [
        "hybrid",
        "large",
        "gpt-4o",
        "openai/gpt-4o",
        "claude-3.5-sonnet",
        "anthropic/claude-3-5-sonnet-20241022",
        "openai/gpt-4-turbo",
    ],
)
def test_a_free_key_cannot_reach_the_large_route_by_any_model_name(
    box: Deployment, model: str
) -> None:
    key = box.add_key("free")
    before = box.counts()
    status, headers, body = chat(box.gateways[1], key, hard(), model=model, headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] in ("local", "medium")
    after = box.counts()
    assert all(after[v] == before[v] for v in LARGE_VENDORS)


def test_a_name_outside_the_catalog_is_a_400_listing_the_accepted_names(box: Deployment) -> None:
    key = box.add_key("paid")
    status, _, body = chat(box.gateways[0], key, faq(), model="gpt-5-ultra")
    assert status == 400
    text = json.dumps(body)
    assert "unknown model 'gpt-5-ultra'" in text
    assert "openai/gpt-4o" in text and "hybrid" in text and "large" in text


def test_an_own_key_reaches_only_its_vendor(box: Deployment) -> None:
    key = box.add_key("own_key")
    openai_user_key = "sk-proj-" + secrets.token_hex(12)
    anthropic_user_key = "sk-ant-" + secrets.token_hex(12)
    before = box.counts()
    for _ in range(8):  # the large route mixes vendors: a user's key must not follow it
        status, headers, body = chat(
            box.gateways[0], key, faq(), model="large", headers={"x-api-key": openai_user_key}
        )
        assert status == 200, body
        assert headers["x-hybrid-user-tier"] == "own_key"
    after = box.counts()
    assert after["openai"] - before["openai"] == 8
    assert after["anthropic"] == before["anthropic"]
    assert box.vendors["openai"].received_keys()[-8:] == [openai_user_key] * 8
    # By the key's format, and by the explicit header for a key whose format says nothing.
    unmarked = "user-" + secrets.token_hex(12)
    for user_key, extra in (
        (anthropic_user_key, {}),
        (unmarked, {"x-hybrid-provider": "anthropic"}),
    ):
        status, _, body = chat(
            box.gateways[1], key, faq(), headers={"x-api-key": user_key, **extra}
        )
        assert status == 200, body
        assert box.vendors["anthropic"].received_keys()[-1] == user_key
    assert box.counts()["openai"] == after["openai"]
    for vendor in ("groq", "anthropic"):
        assert openai_user_key not in box.vendors[vendor].received_keys()
    assert (
        anthropic_user_key
        not in box.vendors["openai"].received_keys() + box.vendors["groq"].received_keys()
    )


@pytest.mark.parametrize(
    ("user_key", "model", "headers", "message"),
    [
        ("user-" + "ab" * 12, "hybrid", {}, "cannot tell which vendor the key in x-api-key"),
        ("sk-proj-" + "ab" * 12, "anthropic/claude-3-5-sonnet-20241022", {}, "is anthropic's"),
        ("sk-ant-" + "ab" * 12, "hybrid", {"x-hybrid-provider": "acme"}, "is not a vendor here"),
    ],
)
def test_an_own_key_whose_vendor_is_unclear_or_other_is_refused(
    box: Deployment, user_key: str, model: str, headers: dict, message: str
) -> None:
    key = box.add_key("own_key")
    before = box.counts()
    status, _, body = chat(
        box.gateways[0], key, faq(), model=model, headers={"x-api-key": user_key, **headers}
    )
    assert status == 400
    assert message in json.dumps(body)
    assert box.counts() == before


def test_a_provider_key_beside_a_free_or_paid_key_is_refused(box: Deployment) -> None:
    key = box.add_key("paid")
    user_key = "sk-proj-" + secrets.token_hex(12)
    status, _, body = chat(box.gateways[0], key, faq(), headers={"x-api-key": user_key})
    assert status == 400
    assert "only for own_key client keys" in json.dumps(body)
    assert all(user_key not in v.received_keys() for v in box.vendors.values())


def test_the_budget_spent_through_one_gateway_holds_on_the_other_and_after_a_redis_restart(
    box: Deployment,
) -> None:
    key = box.add_key("paid")
    status, headers, body = chat(box.gateways[0], key, hard(), headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] == "large"
    _wait_spend(box, spend_key(), BUDGET_USD)
    # The other gateway sees the shared spend: the cheapest cloud route only (seed 002).
    before = box.counts()
    status, headers, body = chat(box.gateways[1], key, hard(), headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] == "medium"
    after = box.counts()
    assert after["groq"] == before["groq"] + 1
    assert all(after[v] == before[v] for v in LARGE_VENDORS)
    assert "ALERT daily cloud budget" in box.logs[1].read_text(errors="replace")
    with urllib.request.urlopen(f"{box.gateways[1]}/metrics/", timeout=30) as response:
        metrics = response.read().decode()
    assert "hybrid_cloud_budget_spent 1.0" in metrics
    # Redis restarts (append-only file): the spend is still there, and still holds.
    spent = float(box.redis("GET", spend_key()))
    subprocess.run(
        ["redis-cli", "-p", str(box.redis_port), "--no-auth-warning", "SHUTDOWN"],
        env={"REDISCLI_AUTH": box.redis_password},
        capture_output=True,
        timeout=30,
    )
    time.sleep(1)
    start_redis(box.work, box.redis_password, box.processes, port=box.redis_port, appendonly=True)
    assert float(box.redis("GET", spend_key())) == pytest.approx(spent)
    status, headers, body = chat(box.gateways[1], key, hard(), headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] == "medium"


def test_a_keys_daily_budget_keeps_it_local_once_spent(box: Deployment) -> None:
    name = f"budgeted-{next(unique)}"
    key = str(box.keys("add", name, "--tier", "paid", "--daily-budget", "0.001")["key"])
    status, headers, body = chat(box.gateways[0], key, hard(), headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] == "large"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = {row["name"]: row for row in box.keys("list")}  # type: ignore[union-attr]
        if listed[name]["spent_today_usd"] >= 0.001:
            break
        time.sleep(0.3)
    before = box.counts()
    status, headers, body = chat(box.gateways[1], key, hard(), headers=QUALITY)
    assert status == 200, body
    assert headers["x-hybrid-route"] == "local"
    after = box.counts()
    assert after["local"] == before["local"] + 1
    assert all(after[v] == before[v] for v in ("groq", *LARGE_VENDORS))
    assert listed[name]["spent_today_usd"] >= 0.001


def test_keys_are_stored_hashed_and_a_revoked_key_is_refused(box: Deployment) -> None:
    name = f"revoked-{next(unique)}"
    key = str(box.keys("add", name, "--tier", "paid")["key"])
    status, _, body = chat(box.gateways[0], key, faq(), headers={"x-hybrid-task-type": "coaching"})
    assert status == 200, body
    stored = box.redis("--scan", "--pattern", "hybridctl:*")
    assert key not in stored
    for redis_key in stored.split():
        if redis_key.startswith("hybridctl:key:"):
            assert key not in box.redis("HGETALL", redis_key)
    assert box.keys("revoke", name) == {"name": name, "revoked": True}
    for url in box.gateways:
        status, _, body = chat(url, key, faq())
        assert status == 401
        assert "invalid or revoked API key" in json.dumps(body)


def test_no_key_a_wrong_key_and_admin_paths_are_refused(box: Deployment) -> None:
    status, _, body = chat(box.gateways[0], None, faq())
    assert status == 401, body
    status, _, body = chat(box.gateways[0], "sk-hyb-" + secrets.token_urlsafe(32), faq())
    assert status == 401 and "invalid or revoked" in json.dumps(body)
    key = box.add_key("paid")
    status, _, body = chat(box.gateways[0], key, faq(), path="/key/generate")
    assert status == 403 and "a client key may use only" in json.dumps(body)


def test_a_low_confidence_local_answer_is_escalated(box: Deployment) -> None:
    # The local model has random weights: its tokens' mean probability is far below the paid
    # tier's 0.75, so the answer goes one route up (the medium route, here the Groq fake).
    key = box.add_key("paid")
    before = box.counts()
    status, headers, body = chat(box.gateways[0], key, faq())
    assert status == 200, body
    assert headers["x-hybrid-route"] == "local"
    assert headers["x-hybrid-escalated"].startswith("confidence ")
    assert headers["x-hybrid-model"] == "medium"
    assert body["choices"][0]["message"]["content"] == "answer from groq"
    after = box.counts()
    assert after["local"] == before["local"] + 1
    assert after["groq"] == before["groq"] + 1
    # The box learns: the escalation is counted in the request's need band (no content).
    with urllib.request.urlopen(f"{box.gateways[0]}/metrics/", timeout=30) as response:
        bands = parse_record(response.read().decode())
    assert sum(band.escalated for band in bands) >= 1
    assert sum(band.checked for band in bands) >= sum(band.escalated for band in bands)


def test_the_task_type_header_routes_and_an_unknown_one_is_a_400(box: Deployment) -> None:
    key = box.add_key("free")
    before = box.counts()
    status, headers, body = chat(
        box.gateways[1], key, faq(), headers={"x-hybrid-task-type": "code"}
    )
    assert status == 200, body
    assert headers["x-hybrid-route"] == "medium"  # code needs medium, even for an FAQ
    after = box.counts()
    assert after["local"] == before["local"] and after["groq"] == before["groq"] + 1
    status, _, body = chat(box.gateways[1], key, faq(), headers={"x-hybrid-task-type": "poetry"})
    assert status == 400
    assert "unknown task type 'poetry'" in json.dumps(body) and "coaching" in json.dumps(body)


def test_the_keys_commands_core_adds_lists_and_revokes_in_the_gateway(box: Deployment) -> None:
    from hybridctl.errors import InputError
    from hybridctl.ops.keys import add_args, revoke_args, run_keys

    runner = ScriptRunner(box)
    name = f"cli-{next(unique)}"
    added = run_keys("test", add_args(name, "free", 2.5), runner)
    assert added["key"].startswith("sk-hyb-") and added["tier"] == "free"
    status, headers, body = chat(box.gateways[0], added["key"], faq())
    assert status == 200 and headers["x-hybrid-user-tier"] == "free", body
    listed = {row["name"]: row for row in run_keys("test", ["list"], runner)}
    assert listed[name]["daily_budget_usd"] == "2.5" and "key" not in listed[name]
    with pytest.raises(InputError, match="exists"):
        run_keys("test", add_args(name, "paid", None), runner)
    assert run_keys("test", revoke_args(name), runner)["revoked"]
    assert chat(box.gateways[1], added["key"], faq())[0] == 401
    with pytest.raises(InputError, match="test: no key named"):
        run_keys("test", revoke_args(name), runner)


def test_personal_data_kept_local_is_served_locally_and_reaches_no_vendor(
    box: Deployment, tmp_path: Path
) -> None:
    """routing.personal_data: local, on a third gateway over the same box: a large-route
    request with personal data is answered by the local server, and no vendor sees it."""
    litellm = litellm_executable()
    assert litellm is not None
    router = tmp_path / "router"
    shutil.copytree(box.router_dir, router)
    policy_file = router / "hybrid_policy.json"
    policy_file.write_text(
        json.dumps({**json.loads(policy_file.read_text()), "personal_data": "local"})
    )
    env = {
        "LITELLM_MASTER_KEY": box.master_key,
        "REDIS_PASSWORD": box.redis_password,
        **{name: "unused" for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY")},
    }
    log = tmp_path / "gateway.log"
    port = free_port()
    process = start_proxy(litellm, router, port, log, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/liveliness", process, log)
        seen = {name: len(vendor.received_keys()) for name, vendor in box.vendors.items()}
        status, headers, _ = chat(url, box.master_key, hard(), headers=QUALITY)
        assert status == 200
        assert headers["x-hybrid-route"] == "local"
        assert headers["x-litellm-model-api-base"].startswith(box.local.api_base)
        assert {name: len(v.received_keys()) for name, v in box.vendors.items()} == seen
        # Without personal data the same gateway still takes the quality strategy's large route.
        status, headers, _ = chat(url, box.master_key, faq(), headers=QUALITY)
        assert headers["x-hybrid-route"] == "large"
    finally:
        stop(process)
