"""The gateway's rules in the hook: own keys' vendors, budgets, confidence, task types, alerts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml
from pydantic import BaseModel

from hybridctl.paths import templates_dir
from tests.router_fixtures import COMPLEX_2, SIMPLE_2
from tests.router_fixtures import handler as _handler
from tests.router_fixtures import pre_call as _pre_call
from tests.router_fixtures import request as _request
from tests.router_fixtures import user as _user

# --- keys, vendors, budgets, confidence and task types ------------------------------------------


@pytest.mark.parametrize(
    ("key", "header", "vendor"),
    [
        ("sk-proj-abc", None, "openai"),
        ("sk-abc", None, "openai"),
        ("sk-ant-api03-abc", None, "anthropic"),
        ("gsk_abc", None, "groq"),
        ("sk-or-v1-abc", None, "openrouter"),
        ("AIzaSyabc", None, "google"),
        ("whatever", "Anthropic", "anthropic"),  # the explicit header wins over the format
        ("sk-proj-abc", "groq", "groq"),
    ],
)
def test_an_own_keys_vendor_comes_from_the_header_or_the_key_format(
    hook: ModuleType, policy: dict, key: str, header: str | None, vendor: str
) -> None:
    assert hook.key_vendor(policy, key, header) == vendor


@pytest.mark.parametrize(
    ("key", "header", "message"),
    [
        ("mykey123", None, "cannot tell which vendor"),
        ("sk-abc", "acme", "is not a vendor here"),
    ],
)
def test_an_own_key_of_no_known_vendor_is_refused(
    hook: ModuleType, policy: dict, key: str, header: str | None, message: str
) -> None:
    with pytest.raises(hook.Rejected) as info:
        hook.key_vendor(policy, key, header)
    assert info.value.status == 400 and message in info.value.message


def test_an_own_key_never_reaches_a_model_of_another_vendor(hook: ModuleType, policy: dict) -> None:
    claude = policy["models"]["claude-3.5-sonnet"]
    with pytest.raises(hook.Rejected, match="is anthropic's"):
        hook.own_key_target(policy, "openai", claude, "claude-3.5-sonnet")
    with pytest.raises(hook.Rejected, match="no groq model"):
        hook.own_key_target(policy, "groq", None, "hybrid")  # own_key's routes: large only
    target = hook.own_key_target(policy, "anthropic", None, "large")
    assert target["model"].startswith("anthropic/") and target["fallbacks"] == []


@pytest.mark.parametrize(
    ("mode", "score", "expected"),
    [
        ("cheapest_cloud", 9, "medium"),
        ("cheapest_cloud", 0, "local"),
        ("local_only", 9, "local"),
    ],
)
def test_what_a_spent_budget_does_is_the_catalogs_setting(
    hook: ModuleType, policy: dict, mode: str, score: float, expected: str
) -> None:
    route, reason = hook.choose_route(
        {**policy, "over_budget": mode},
        score=score,
        strategy="quality" if score else "local_first",
        user_tier="paid",
        over_budget=True,
    )
    assert route == expected, reason


def test_a_refusing_budget_leaves_no_cloud_route_and_a_key_budget_keeps_local(
    hook: ModuleType, policy: dict
) -> None:
    refuse = {**policy, "over_budget": "refuse"}
    assert hook.usable_routes(refuse, "paid", over_budget=True) == ["local"]
    route, reason = hook.choose_route(
        policy, score=9, strategy="quality", user_tier="paid", key_over_budget=True
    )
    assert route == "local" and "key's daily budget spent" in reason
    cloud_only = {**policy, "user_tiers": {"c": {"routes": ["large"]}}}
    with pytest.raises(hook.Rejected) as info:
        hook.choose_route(
            cloud_only, score=9, strategy="quality", user_tier="c", key_over_budget=True
        )
    assert info.value.status == 429


@pytest.mark.parametrize(
    ("task", "tier", "expected"),
    [("coaching", "free", "local"), ("code", "free", "medium"), ("planning", "paid", "large")],
)
def test_the_task_type_sets_the_least_route(
    hook: ModuleType, policy: dict, task: str, tier: str, expected: str
) -> None:
    route, _ = hook.choose_route(
        policy, score=0, strategy="local_first", user_tier=tier, task_type=task
    )
    assert route == expected
    target = hook.local_target(
        policy, route, score=0, strategy="local_first", user_tier=tier, task_type=task
    )
    assert target["model"] == ("local" if expected == "local" else expected)  # no complex try


def test_answer_confidence_is_the_geometric_mean_token_probability(hook: ModuleType) -> None:
    def answer(logprobs):
        choice = SimpleNamespace(logprobs=logprobs)
        return SimpleNamespace(choices=[choice])

    tokens = [{"logprob": -0.1}, {"logprob": -0.3}]
    assert hook.answer_confidence(answer({"content": tokens})) == pytest.approx(0.8187, abs=1e-4)
    assert hook.answer_confidence(answer(SimpleNamespace(content=tokens))) == pytest.approx(
        0.8187, abs=1e-4
    )
    assert hook.answer_confidence(answer(None)) is None
    assert hook.answer_confidence(SimpleNamespace(choices=[])) is None


def test_the_hook_asks_the_local_model_for_log_probabilities_when_a_threshold_applies(
    hook: ModuleType,
) -> None:
    data = _pre_call(_handler(hook), _request([_user("What are your opening hours?")]))
    assert data["logprobs"] is True and data["top_logprobs"] == 1
    assert data["metadata"]["hybrid_min_confidence"] == 0.75  # the paid tier's, from the catalog
    assert data["metadata"]["hybrid_escalate_to"] == "medium"
    quality = _request([_user("Hi")], headers={"x-hybrid-strategy": "quality"})
    assert "logprobs" not in _pre_call(_handler(hook), quality)  # a cloud answer: no check


def test_a_spend_store_that_does_not_answer_counts_as_a_spent_budget(
    hook: ModuleType, policy: dict, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    settings = {"host": "127.0.0.1", "port": port, "password_env": "NO_SUCH_ENV"}
    handler = hook.HybridRouter(
        policy={**policy, "spend_store": settings}, store=hook.Store(settings)
    )
    quality = _request([_user("Hi")], headers={"x-hybrid-strategy": "quality"})
    with caplog.at_level("ERROR", logger="hybrid_router"):
        data = _pre_call(handler, quality)
    assert data["model"] == "medium"  # not large: no node keeps a budget of its own
    assert "budget counts as spent" in caplog.text and "ALERT daily cloud budget" in caplog.text


def test_spend_without_redis_is_kept_per_deployment_and_per_key(hook: ModuleType) -> None:
    store = hook.Store(None)
    alice, bob = hook.key_digest("sk-hyb-alice"), hook.key_digest("sk-hyb-bob")
    asyncio.run(store.add(0.5, alice))
    asyncio.run(store.add(0.25))
    assert asyncio.run(store.spent()) == pytest.approx(0.75)
    assert asyncio.run(store.spent(alice)) == pytest.approx(0.5)
    assert asyncio.run(store.spent(bob)) == 0


# --- the budget alert ------------------------------------------------------------------------


class _AlertsContext(BaseModel):
    tier_id: str


def test_the_spend_and_key_store_follows_the_shared_redis_of_a_multi_node_box(
    policy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.gateway.hook import store

    settings = policy["spend_store"]
    monkeypatch.delenv("REDIS_HOST", raising=False)
    assert store.redis_kwargs(settings)["host"] == "redis"
    monkeypatch.setenv("REDIS_HOST", "10.42.0.10")  # what compose sets on nodes 1..N-1
    assert store.redis_kwargs(settings)["host"] == "10.42.0.10"


def _render_alerts() -> str:
    from hybridctl.render.engine import make_environment, render_template

    return render_template(
        make_environment(), "prometheus/alerts.yml.j2", _AlertsContext(tier_id="2")
    )


def test_alert_rules_watch_metrics_the_hook_exports(router_dir: Path) -> None:
    rules = yaml.safe_load(_render_alerts())["groups"][0]["rules"]
    store = (router_dir / "hybrid_hook" / "store.py").read_text()
    names = {r["alert"] for r in rules}
    assert {"HybridDailyCloudBudgetSpent", "HybridSpendStoreDown"} <= names
    for metric in ("hybrid_cloud_budget_spent", "hybrid_spend_store_up"):
        assert f'"{metric}"' in store
    prometheus = (templates_dir() / "prometheus" / "prometheus.yml.j2").read_text()
    assert "/etc/prometheus/rules/*.yml" in prometheus


def test_the_budget_alert_fires_in_prometheus(tmp_path: Path) -> None:
    """promtool (from the Prometheus stand-in image) checks the rules and runs a rule test."""
    import os
    import shutil
    import subprocess

    images = os.environ.get("HYBRIDCTL_TEST_IMAGES")
    if not images or shutil.which("docker") is None:
        pytest.skip("needs Docker and HYBRIDCTL_TEST_IMAGES (the Prometheus image's promtool)")
    image = yaml.safe_load(Path(images).read_text())["prometheus"]
    rendered = _render_alerts()
    (tmp_path / "alerts.yml").write_text(rendered)
    budget_rule = yaml.safe_load(rendered)["groups"][0]["rules"][0]
    spec = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": "hybrid_cloud_budget_spent", "values": "0 0 1 1 1 1 1 1 1"},
                    {"series": "hybrid_spend_store_up", "values": "1 1 1 1 1 1 1 1 1"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15s",
                        "alertname": "HybridDailyCloudBudgetSpent",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "2m",
                        "alertname": "HybridDailyCloudBudgetSpent",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning"},
                                "exp_annotations": budget_rule["annotations"],
                            }
                        ],
                    },
                    {"eval_time": "2m", "alertname": "HybridSpendStoreDown", "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec))
    tmp_path.chmod(0o755)  # the image's promtool runs as the prometheus user
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    docker = ["docker", "run", "--rm", "--network", "none", "-v", f"{tmp_path}:/rules:ro"]
    docker += ["-w", "/rules", "--entrypoint", "promtool", image]
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "test.yml"]):
        done = subprocess.run(docker + args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


# --- the keys group's input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "add", "bob"], "keys add needs --tier free|paid|own_key"),
        (["keys", "add", "bob", "--tier", "gold"], "(got 'gold')"),
        (["keys", "add", "bad name", "--tier", "paid"], "key name 'bad name' is not valid"),
        (["keys", "add", "bob", "--tier", "paid", "--daily-budget", "-1"], "must be more than 0"),
        (["keys", "add", "bob", "--tier", "paid", "--daily-budget", "0"], "must be more than 0"),
        (["keys", "rotate", "bob"], "No such command 'rotate'"),
        (["keys", "revok", "bob"], "Did you mean 'revoke'?"),
        (["keys", "revoke"], "Missing argument 'NAME'"),
        (["keys", "list", "--tier", "free"], "No such option: --tier"),
        (["keys", "list", "-d", "nope"], "no deployment named 'nope'"),
    ],
)
def test_keys_command_bad_input_is_exit_2_without_a_traceback(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hybridctl.cli.app import app

    monkeypatch.setenv("HYBRIDCTL_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


# --- personal data stays local when the operator says so ---------------------------------------

PERSONAL = "My salary is 4,200 a month; mail me at jane.doe@example.com."
HARD_PERSONAL = [
    _user("Analyse our churn for me. " * 30 + PERSONAL),
    {"role": "assistant", "content": "Sure."},
    _user("Now compare the cohorts in depth and explain the trade-offs."),
]
QUALITY_HEADERS = {"x-hybrid-strategy": "quality"}


def _status(error: BaseException) -> int | None:
    return getattr(error, "status", getattr(error, "status_code", None))


def _message(error: BaseException) -> str:
    return str(getattr(error, "message", getattr(error, "detail", error)))


def test_by_default_personal_data_is_one_complexity_factor(hook: ModuleType) -> None:
    handler = _handler(hook)
    assert handler.policy["personal_data"] == "score"  # the catalog's default: today's rule
    data = _pre_call(handler, _request([_user(PERSONAL)], headers=QUALITY_HEADERS))
    assert data["model"] == "large"


@pytest.mark.parametrize(
    ("messages", "model", "headers"),
    [
        ([_user(PERSONAL)], "hybrid", QUALITY_HEADERS),  # the quality strategy: large otherwise
        ([_user(PERSONAL)], "large", QUALITY_HEADERS),  # a cloud route asked for by name
        ([_user(PERSONAL)], "gpt-4o", QUALITY_HEADERS),  # a cloud model asked for by name
        ([_user(PERSONAL)], "hybrid", {"x-hybrid-task-type": "planning"}),  # a large task
        (HARD_PERSONAL, "hybrid", None),  # complexity 7 and more: large otherwise
    ],
)
def test_personal_data_never_leaves_the_box_when_the_operator_keeps_it_local(
    hook: ModuleType, messages: list, model: str, headers: dict | None
) -> None:
    handler = _handler(hook, personal_data="local")
    data = _pre_call(handler, _request(messages, model=model, headers=headers))
    meta = data["metadata"]
    assert meta["hybrid_route"] == "local"
    assert data["model"] in ("local", COMPLEX_2, SIMPLE_2)
    assert data["fallbacks"] == data["context_window_fallbacks"] == []  # no cloud on failure
    assert meta["hybrid_escalate_to"] is None  # nor on a low-confidence answer
    assert "personal data stays local" in meta["hybrid_reason"]


def test_a_hard_request_with_personal_data_takes_the_complex_local_model(
    hook: ModuleType,
) -> None:
    data = _pre_call(_handler(hook, personal_data="local"), _request(HARD_PERSONAL))
    assert data["model"] == COMPLEX_2 and data["fallbacks"] == []


def test_requests_without_personal_data_are_routed_as_before(hook: ModuleType) -> None:
    handler = _handler(hook, personal_data="local")
    data = _pre_call(handler, _request([_user("Write a poem")], headers=QUALITY_HEADERS))
    assert data["model"] == "large"


def test_free_tier_personal_data_is_served_locally(hook: ModuleType) -> None:
    handler = _handler(hook, personal_data="local")
    key = {"hybrid_user_tier": "free"}
    data = _pre_call(handler, _request(HARD_PERSONAL, headers=QUALITY_HEADERS), key)
    assert data["metadata"]["hybrid_route"] == "local" and data["fallbacks"] == []


def test_personal_data_from_a_tier_without_a_local_route_is_a_403(hook: ModuleType) -> None:
    handler = _handler(hook, personal_data="local")
    own = _request([_user(PERSONAL)], headers={"x-hybrid-user-tier": "own_key"}, api_key="sk-x")
    with pytest.raises(Exception) as raised:
        _pre_call(handler, own)
    assert _status(raised.value) == 403
    assert "personal data" in _message(raised.value)
    assert "jane.doe" not in _message(raised.value)  # the refusal repeats nothing it was sent
    cloud_only = {
        **handler.policy["user_tiers"],
        "paid": {**handler.policy["user_tiers"]["paid"], "routes": ["medium", "large"]},
    }
    handler = _handler(hook, personal_data="local", user_tiers=cloud_only)
    with pytest.raises(Exception) as raised:
        _pre_call(handler, _request([_user(PERSONAL)]))
    assert _status(raised.value) == 403
    # An own key without personal data still reaches its provider.
    plain = _request([_user("Write a poem")], headers={"x-hybrid-user-tier": "own_key"})
    plain["api_key"] = "sk-x"
    assert _pre_call(_handler(hook, personal_data="local"), plain)["model"] != "local"


def test_personal_data_with_the_local_server_down_is_a_503_not_a_cloud_call(
    hook: ModuleType,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the health check fails at once
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/health"
    handler = _handler(hook, personal_data="local", local_health={"local": closed})
    with pytest.raises(Exception) as raised:
        _pre_call(handler, _request([_user(PERSONAL)], headers=QUALITY_HEADERS))
    assert _status(raised.value) == 503
    assert "personal data stays on the box" in _message(raised.value)


def test_personal_data_kept_local_leaves_the_local_route_or_none(
    hook: ModuleType, policy: dict
) -> None:
    assert hook.usable_routes(policy, "paid", local_only=True) == ["local"]
    assert hook.usable_routes(policy, "paid", ceiling="large", local_only=True) == ["local"]
    cloud_only = {**policy, "user_tiers": {"c": {"routes": ["large"]}}}
    assert hook.usable_routes(cloud_only, "c", local_only=True) == []
    with pytest.raises(hook.Rejected) as info:
        hook.choose_route(
            cloud_only, score=1, strategy="local_first", user_tier="c", local_only=True
        )
    assert info.value.status == 403
