"""The hook against hostile and failing traffic: bounded scoring, no client-set routing, fast
failures and errors that name nothing internal. The hook is the rendered one, imported as
LiteLLM imports it; the servers it asks are real sockets on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.router_fixtures import COMPLEX_2, SIMPLE_2
from tests.router_fixtures import handler as _handler
from tests.router_fixtures import pre_call as _pre_call
from tests.router_fixtures import request as _request
from tests.router_fixtures import user as _user

# Each of these took the old patterns seconds to minutes (quadratic in a run of letters);
# linear patterns read them in milliseconds. The limit below only guards against a hang.
ADVERSARIAL = {
    "letters": "a" * 2_000_000,
    "letters and dashes": "a-" * 1_000_000,
    "a digit then dashes": "1" + "-" * 2_000_000,
    "at signs": "@" * 2_000_000,
    "letter, at sign": "a@" * 1_000_000,
    "iban-like run": "AB12" * 500_000,
}
HANG_GUARD_S = 10


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_scoring_reads_a_bounded_share_of_any_text_without_hanging(
    hook: ModuleType, name: str
) -> None:
    done: list[dict] = []
    worker = threading.Thread(
        target=lambda: done.append(hook.request_features([_user(ADVERSARIAL[name])], 500)),
        daemon=True,
    )
    worker.start()
    worker.join(HANG_GUARD_S)
    assert done, f"scoring {name!r} (2 MB) did not finish in {HANG_GUARD_S}s"
    assert done[0]["long_request"] is True


@pytest.mark.parametrize(
    ("text", "personal"),
    [
        ("mail me at john.doe@example.com please", True),
        ("x@y.z", True),
        ("a@b", False),
        ("no address @ all", False),
        ("call +44 20 7946 0958 tomorrow", True),
        ("my IBAN is DE89370400440532013000", True),
        ("what is my salary after tax?", True),
        ("what are your opening hours?", False),
    ],
)
def test_personal_data_is_still_found(hook: ModuleType, text: str, personal: bool) -> None:
    features = hook.request_features([_user(text)], 500)
    assert features["includes_personal_data"] is personal


def test_personal_data_at_either_end_of_a_long_request_is_found(hook: ModuleType) -> None:
    filler = "lorem ipsum " * 20_000
    for text in ("ann@example.org " + filler, filler + " ann@example.org"):
        assert hook.request_features([_user(text)], 500)["includes_personal_data"]


# --- no routing set by the client -------------------------------------------------------------

CLIENT_ROUTING = {
    "fallbacks": [{"local": ["large"]}],
    "context_window_fallbacks": [{"local": ["anthropic/claude-3-5-sonnet-20241022"]}],
    "content_policy_fallbacks": [{"local": ["large"]}],
    "num_retries": 6,
    "max_retries": 6,
    "timeout": 600,
    "router_settings_override": {"fallbacks": [{"local": ["large"]}]},
    "specific_deployment": True,
    "mock_response": "owned",
}


def test_a_client_cannot_set_fallbacks_retries_or_the_deployment(hook: ModuleType) -> None:
    data = _request([_user("What are your opening hours?")], **CLIENT_ROUTING)
    routed = _pre_call(_handler(hook), data, {"hybrid_user_tier": "free"})
    assert routed["model"] == "local"
    # The free tier's chain is local then medium: large appears nowhere.
    for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        assert routed[field] == [{"local": ["medium"]}], field
    assert routed["num_retries"] == 0
    for field in ("max_retries", "timeout", "router_settings_override", "specific_deployment"):
        assert field not in routed, field
    assert "mock_response" not in routed


def test_a_key_past_its_budget_has_no_cloud_path_for_a_too_long_prompt(hook: ModuleType) -> None:
    key = {"hybrid_user_tier": "paid", "hybrid_daily_budget_usd": 1.0, "hybrid_spend": [0, 2.0]}
    data = _request([_user("How do I reset my password?")], **CLIENT_ROUTING)
    routed = _pre_call(_handler(hook), data, key)
    assert routed["model"] == "local"
    assert routed["fallbacks"] == routed["context_window_fallbacks"] == []


QUALITY = {"x-hybrid-strategy": "quality"}


def test_cloud_routes_keep_one_retry_and_local_none(hook: ModuleType) -> None:
    data = _request([_user("Write a poem")], model="large", headers=QUALITY)
    assert _pre_call(_handler(hook), data)["num_retries"] == 1


def test_a_request_without_a_model_is_a_400(hook: ModuleType) -> None:
    with pytest.raises(Exception) as raised:
        _pre_call(_handler(hook), {"messages": [], "metadata": {}})
    assert getattr(raised.value, "status", getattr(raised.value, "status_code", None)) == 400


def test_a_text_completion_obeys_the_same_policy(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _request([], model="large", headers=QUALITY, prompt="Once upon a time")
    data.pop("messages")
    data["fallbacks"] = [{"medium": ["large"]}]
    key = SimpleNamespace(metadata={"hybrid_user_tier": "free"})
    routed = asyncio.run(handler.async_pre_call_hook(key, None, data, "atext_completion"))
    assert routed["model"] == "medium"  # a free key's ceiling, whatever it asked for
    assert routed["fallbacks"] == []


# --- a local server that does not answer ------------------------------------------------------


class _Hung:
    """A TCP server that accepts connections and never answers (a paused model server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/health"

    def close(self) -> None:
        self.sock.close()


class _Healthy:
    """An HTTP server whose /health answers 200, counting the checks."""

    def __init__(self) -> None:
        served = self.served = [0]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                served[0] += 1
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hung() -> Iterator[_Hung]:
    server = _Hung()
    yield server
    server.close()


@pytest.fixture
def healthy() -> Iterator[_Healthy]:
    server = _Healthy()
    yield server
    server.close()


def test_a_hung_local_server_sends_the_request_on_to_the_cloud_in_seconds(
    hook: ModuleType, hung: _Hung
) -> None:
    handler = _handler(hook, local_health={"local": hung.url, SIMPLE_2: hung.url})
    started = time.monotonic()
    routed = _pre_call(handler, _request([_user("What are your opening hours?")]))
    assert time.monotonic() - started < hook.PROBE_TIMEOUT_S * 2 + 1
    assert routed["model"] == "medium" and routed["fallbacks"] == [{"medium": ["large"]}]
    assert routed["metadata"]["hybrid_route"] == "local"  # the policy's choice
    assert "not answering" in routed["metadata"]["hybrid_reason"]
    assert routed["num_retries"] == 1  # the cloud route's
    assert routed["metadata"]["hybrid_min_confidence"] is None  # nothing local to escalate


def test_a_silent_local_server_with_requests_in_flight_is_busy_not_down(
    hook: ModuleType, hung: _Hung, healthy: _Healthy
) -> None:
    """llama.cpp may answer its health check late while every HTTP thread serves a request."""
    handler = _handler(hook, local_health={"local": healthy.url})
    first = _pre_call(handler, _request([_user("What are your opening hours?")]))
    assert first["model"] == "local"  # now in flight
    handler.policy["local_health"] = {"local": hung.url}
    second = _pre_call(handler, _request([_user("How do I reset my password?")]))
    assert second["model"] == "local"
    call = first["metadata"]["hybrid_local_call"]
    ended = {"litellm_params": {"metadata": {"hybrid_local_call": call}}}
    asyncio.run(handler.async_log_failure_event(ended, None, None, None))
    second_call = second["metadata"]["hybrid_local_call"]
    ended = {"litellm_params": {"metadata": {"hybrid_local_call": second_call}}}
    asyncio.run(handler.async_log_failure_event(ended, None, None, None))
    third = _pre_call(handler, _request([_user("Where is your office?")]))
    assert third["model"] == "medium"  # nothing in flight: silent means hung


def test_a_hung_local_server_is_a_quick_503_for_a_key_with_no_cloud_route(
    hook: ModuleType, hung: _Hung
) -> None:
    handler = _handler(hook, local_health={"local": hung.url}, over_budget="local_only")
    handler.store.add = None  # never reached
    key = {"hybrid_user_tier": "free", "hybrid_spend": [1e9, 0.0]}  # the day's budget is spent
    with pytest.raises(Exception) as raised:
        _pre_call(handler, _request([_user("What are your opening hours?")]), key)
    error = raised.value
    assert getattr(error, "status", getattr(error, "status_code", None)) == 503
    assert "not answering" in str(getattr(error, "message", getattr(error, "detail", error)))


def test_a_healthy_local_server_is_asked_before_each_local_request(
    hook: ModuleType, healthy: _Healthy
) -> None:
    handler = _handler(hook, local_health={"local": healthy.url})
    for _ in range(3):
        assert _pre_call(handler, _request([_user("Hi?")]))["model"] == "local"
    assert healthy.served[0] == 3


def test_the_complex_model_has_its_own_server_check(hook: ModuleType, hung: _Hung) -> None:
    handler = _handler(hook, local_health={COMPLEX_2: hung.url})
    text = "Analyze the trade-offs of these pricing strategies and evaluate them in depth."
    routed = _pre_call(handler, _request([_user("Hi"), _user(text)]))
    assert routed["model"] == "medium"


# --- errors that name nothing internal --------------------------------------------------------


def _error(name: str, status: int | None, message: str) -> Exception:
    kind = type(name, (Exception,), {})
    error = kind(message)
    error.status_code = status  # type: ignore[attr-defined]
    return error


INTERNAL = (
    "litellm.APIConnectionError: OpenAIException - Connection error. api_base="
    "http://llm:8080/v1 fallbacks=[{'local': ['medium']}] <object at 0x7f3a2b1c9d90>"
)


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        ("ContextWindowExceededError", 400, 400),
        ("BadRequestError", 400, 400),
        ("Timeout", 408, 504),
        ("RateLimitError", 429, 503),
        ("AuthenticationError", 401, 502),
        ("APIConnectionError", 500, 503),
        ("InternalServerError", 500, 503),
        ("ServiceUnavailableError", 503, 503),
    ],
)
def test_a_failed_route_is_a_clean_status_with_words_that_name_nothing_internal(
    hook: ModuleType, name: str, status: int, expected: int
) -> None:
    fastapi = pytest.importorskip("fastapi")
    data = {"metadata": {"hybrid_route": "local"}}
    answer = asyncio.run(
        _handler(hook).async_post_call_failure_hook(data, _error(name, status, INTERNAL), None)
    )
    assert isinstance(answer, fastapi.HTTPException)
    assert answer.status_code == expected
    text = str(answer.detail)
    for leak in ("llm:8080", "http://", "0x7f", "fallbacks", "OpenAIException"):
        assert leak not in text, leak
    assert "route local" in text


def test_an_own_key_the_vendor_refuses_is_the_clients_401(hook: ModuleType) -> None:
    pytest.importorskip("fastapi")
    data = {"metadata": {"hybrid_route": "large", "hybrid_own_key": True}}
    error = _error("AuthenticationError", 401, INTERNAL)
    answer = asyncio.run(_handler(hook).async_post_call_failure_hook(data, error, None))
    assert answer.status_code == 401 and "x-api-key" in str(answer.detail)


def test_the_hooks_own_refusals_pass_through_the_failure_hook(hook: ModuleType) -> None:
    fastapi = pytest.importorskip("fastapi")
    refusal = fastapi.HTTPException(status_code=400, detail={"error": "unknown model"})
    answer = asyncio.run(_handler(hook).async_post_call_failure_hook({}, refusal, None))
    assert answer is None


# --- the answer names the model that gave it --------------------------------------------------


def test_a_local_answer_names_the_local_model_not_the_name_asked_for(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _pre_call(handler, _request([_user("What are your opening hours?")], model="hybrid"))
    assert data["metadata"][hook.KEEP_MODEL_NAME] is True
    response = SimpleNamespace(
        model="hybrid",
        choices=[],
        _hidden_params={"additional_headers": {"x-litellm-model-group": "local"}},
    )
    asyncio.run(handler.async_post_call_success_hook(data, None, response))
    assert response.model == SIMPLE_2


def test_a_cloud_answer_keeps_the_vendors_model_name(hook: ModuleType) -> None:
    handler = _handler(hook)
    data = _pre_call(handler, _request([_user("Write a poem")], model="large", headers=QUALITY))
    response = SimpleNamespace(
        model="gpt-4o-2024-08-06",
        choices=[],
        _hidden_params={"additional_headers": {"x-litellm-model-group": "large"}},
    )
    asyncio.run(handler.async_post_call_success_hook(data, None, response))
    assert response.model == "gpt-4o-2024-08-06"
