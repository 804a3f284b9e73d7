"""LiteLLM proxy hook: applies the hybrid policy to every chat request (routes, keys, budgets).

Copied into the bundle with its package; litellm_config.yaml loads the instance proxy.py makes
(`hybrid_hook.proxy.proxy_handler_instance`). The policy numbers live in hybrid_policy.json, the
decisions in rules.py, the complexity score in scoring.py, the need model in need.py, shared
state (keys, spend) in store.py. Needs only the
standard library and litellm (with the `redis` and `prometheus_client` packages it ships with).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from pathlib import Path
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:  # the policy functions stay importable (and testable) without the gateway

    class CustomLogger:  # type: ignore[no-redef]
        """Stand-in base class when litellm is not installed."""


from .need import NeedModel, need_bucket, request_text
from .rules import (
    LOCAL_COMPLEX_STRATEGIES,
    POLICY_FILE,
    ROUTE_ORDER,
    Rejected,
    allowed_routes,
    answer_confidence,
    answering_model,
    cheapest_route,
    choose_route,
    fallback_routes,
    keeps_local,
    key_vendor,
    load_policy,
    local_target,
    needed_route,
    own_key_target,
    refuse_personal_data,
    resolve_model,
    usable_routes,
)
from .scoring import FEATURES, complexity_score, request_features
from .store import Store, StoreDown, key_digest, shared_store, today

__all__ = [
    "FEATURES",
    "LOCAL_COMPLEX_STRATEGIES",
    "POLICY_FILE",
    "ROUTE_ORDER",
    "allowed_routes",
    "answering_model",
    "cheapest_route",
    "complexity_score",
    "fallback_routes",
    "key_digest",
    "load_policy",
    "needed_route",
    "request_features",
]

LOG = logging.getLogger("hybrid_router")
ESCALATION_PARAMS = ("messages", "max_tokens", "temperature", "top_p", "stop", "seed", "user")
CHAT_CALLS = ("completion", "acompletion")
TEXT_CALLS = ("text_completion", "atext_completion")
# Request fields that steer LiteLLM's router (where a failure goes next, how often it is
# retried, which deployment answers, how long it may take). The policy sets them; whatever a
# client sent is dropped, so no body can name a route its key, tier or budget rules out.
ROUTING_FIELDS = (
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "disable_fallbacks",
    "max_fallbacks",
    "fallback_depth",
    "num_retries",
    "max_retries",
    "retry_policy",
    "model_group_retry_policy",
    "router_settings_override",
    "routing_strategy",
    "routing_strategy_args",
    "routing_groups",
    "specific_deployment",
    "model_id",
    "deployment_id",
    "passthrough_on_no_deployment",
    "silent_model",
    "timeout",
    "request_timeout",
    "stream_timeout",
    "mock_response",
    "mock_timeout",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
    "api_base",
    "base_url",
    "model_list",
    "user_config",
)
# LiteLLM restamps a response's `model` with the name the client asked for (a client asking for
# gpt-4o would read gpt-4o on TinyLlama's answer); this metadata flag, which LiteLLM's own
# complexity router sets, keeps the name the hook writes there.
KEEP_MODEL_NAME = "_complexity_router_return_raw_model_name"
PROBE_TIMEOUT_S = 2.0


def _http(status: int, message: str) -> Exception:
    """An error for the client (LiteLLM passes FastAPI's HTTPException through)."""
    try:
        from fastapi import HTTPException
    except ImportError:
        return Rejected(status, message)
    return HTTPException(status_code=status, detail={"error": message})


# What a client is told when a route fails: status and words, never a host, a config or an
# object (the whole error goes to the gateway's log for the operator).
FAILURES = {
    "context": (
        400,
        "the request is longer than the context window of every model this key may use",
    ),
    "bad_request": (400, "the model refused the request as malformed"),
    "timeout": (504, "the model did not answer in time; try again, or send a shorter request"),
    "rate_limited": (
        503,
        "the cloud route is rate-limited or its budget is spent; try again shortly",
    ),
    "unavailable": (503, "the model is not answering right now; try again shortly"),
    "vendor_auth": (
        502,
        "a cloud vendor refused the gateway's credentials; the operator must check them",
    ),
    "own_key_auth": (401, "the vendor refused the provider key sent in x-api-key"),
}


def failure_kind(exc: BaseException) -> str:
    """Which of FAILURES a LiteLLM error is, by its class name and status."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if "ContextWindow" in name:
        return "context"
    if "Timeout" in name or status in (408, 504):
        return "timeout"
    if "RateLimit" in name or status == 429:
        return "rate_limited"
    if "Authentication" in name or "PermissionDenied" in name or status in (401, 403):
        return "vendor_auth"
    if status in (400, 404, 422) or "BadRequest" in name or "UnprocessableEntity" in name:
        return "bad_request"
    return "unavailable"


def _header(data: dict[str, Any], name: str) -> str | None:
    headers = (data.get("proxy_server_request") or {}).get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name:
            return str(value).strip()
    return None


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("metadata"), dict):
        data["metadata"] = {}
    return data["metadata"]


def _answer_group(response: Any) -> str | None:
    hidden = getattr(response, "_hidden_params", None)
    extra = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    group = extra.get("x-litellm-model-group") if isinstance(extra, dict) else None
    return str(group) if group else None


def _messages(data: dict[str, Any], call_type: str) -> list[dict[str, Any]]:
    """A chat request's messages; a text completion's prompt as one user message."""
    if call_type in TEXT_CALLS:
        prompt = data.get("prompt")
        if isinstance(prompt, list):
            prompt = "\n".join(p for p in prompt if isinstance(p, str))
        return [{"role": "user", "content": prompt if isinstance(prompt, str) else ""}]
    messages = data.get("messages")
    return messages if isinstance(messages, list) else []


async def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """GET url: "answers" (a status below 500), "refused" (no connection, or 5xx: still
    loading), or "silent" (connected, no answer in time: hung, or busy with every thread)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port, ssl=parts.scheme == "https"), timeout_s
        )
        request = f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.hostname}\r\n\r\n"
        writer.write(request.encode("ascii"))
        status_line = await asyncio.wait_for(reader.readline(), timeout_s)
    except TimeoutError:
        return "silent" if writer is not None else "refused"
    except (OSError, ValueError):
        return "refused"
    finally:
        if writer is not None:
            writer.close()
    fields = status_line.split()
    up = len(fields) >= 2 and fields[1].isdigit() and int(fields[1]) < 500
    return "answers" if up else "refused"


class HybridRouter(CustomLogger):
    """The proxy callback: rewrites `model` before LiteLLM's router runs; escalates; counts."""

    def __init__(self, policy: dict[str, Any] | None = None, store: Store | None = None) -> None:
        super().__init__()
        self.policy = policy if policy is not None else load_policy()
        self.store = store or shared_store(self.policy.get("spend_store"))
        self.store.metrics.set("budget", self.policy["daily_cloud_budget_usd"])
        self.latency_s: dict[str, float] = {}
        self._alerted_day: str | None = None
        self._local_calls: dict[str, float] = {}  # local requests in flight -> when they began
        need = self.policy.get("need") or {}
        self.need_model = (
            NeedModel.load(Path(__file__).with_name(need["model_file"])) if need else None
        )

    def _local_busy(self) -> bool:
        """Whether a local request of this gateway is in flight (and not past any timeout)."""
        horizon = time.monotonic() - float(self.policy.get("local_timeout_s") or 300)
        for call, began in list(self._local_calls.items()):
            if began < horizon:
                self._local_calls.pop(call, None)  # its end was never reported
        return bool(self._local_calls)

    async def local_up(self, model: str) -> bool:
        """Whether the local server behind `model` answers its health check (True if none known).

        A server that takes the connection but says nothing is hung, unless this gateway has
        requests in flight there: then it is busy, and a busy server is still up.
        """
        url = (self.policy.get("local_health") or {}).get(model)
        if not url:
            return True
        # Asked before every local request (a millisecond on the internal network): an answer
        # trusted for a while would send the next requests to a server that has just hung.
        said = await probe(url)
        return said == "answers" or (said == "silent" and self._local_busy())

    def _ended(self, meta: Any) -> None:
        """A local request is over (answered or failed): it no longer makes the server busy."""
        call = meta.get("hybrid_local_call") if isinstance(meta, dict) else None
        if call:
            self._local_calls.pop(str(call), None)

    @staticmethod
    def _logged_metadata(kwargs: dict[str, Any]) -> Any:
        return (kwargs.get("litellm_params") or {}).get("metadata")

    async def _around_a_down_server(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The plan's next allowed route when its local server does not answer; else a 503.

        `route` stays the policy's choice (the x-hybrid-route header); `model` is what serves.
        """
        if plan["route"] != "local" or await self.local_up(plan["model"]):
            return plan
        if not plan["fallbacks"]:
            why = (
                "this request's personal data stays on the box (routing.personal_data: local)"
                if plan.get("local_only")
                else "this key may use no cloud route"
            )
            raise Rejected(
                503, f"the local model server is not answering and {why}; try again shortly"
            )
        first, *rest = plan["fallbacks"]
        return {
            **plan,
            "model": first,
            "serves": first,
            "fallbacks": rest,
            "local_down": True,
            "reason": plan["reason"] + "; local model server not answering",
        }

    def _caller(self, data: dict[str, Any], key_meta: dict[str, Any]) -> dict[str, Any]:
        """Strategy, user tier, task type and key of the caller; the key's tier beats headers."""
        policy, headers = self.policy, self.policy["headers"]
        sent = data.get("metadata")
        meta: dict[str, Any] = sent if isinstance(sent, dict) else {}
        strategy = (
            meta.get("hybrid_strategy")
            or _header(data, headers["strategy"])
            or policy["default_strategy"]
        )
        keyed = key_meta.get("hybrid_user_tier")  # a client key: a header cannot change it
        user_tier = keyed or (
            _header(data, headers["user_tier"])
            or meta.get("hybrid_user_tier")
            or policy["default_user_tier"]
        )
        if strategy not in policy["strategies"]:
            raise Rejected(
                400, f"unknown routing strategy {strategy!r}; use one of {policy['strategies']}"
            )
        if user_tier not in policy["user_tiers"]:
            raise Rejected(
                400, f"unknown user tier {user_tier!r}; use one of {sorted(policy['user_tiers'])}"
            )
        task_type = _header(data, headers["task_type"]) or None
        if task_type is not None and task_type not in policy.get("task_types", {}):
            raise Rejected(
                400,
                f"unknown task type {task_type!r} in {headers['task_type']}; use one of "
                f"{', '.join(sorted(policy.get('task_types', {})))}",
            )
        provider_key = data.get("api_key")  # LiteLLM put the client's x-api-key here
        if provider_key and user_tier != "own_key":
            if keyed:
                raise Rejected(
                    400,
                    f"x-api-key (a provider key) is only for own_key client keys; this key's "
                    f"tier is {user_tier}",
                )
            user_tier = "own_key"  # the operator's master key, testing an own key
        if user_tier == "own_key" and not provider_key:
            raise Rejected(400, "user tier own_key needs the provider key in the x-api-key header")
        return {
            "strategy": strategy,
            "user_tier": user_tier,
            "task_type": task_type,
            "provider_key": provider_key,
            "key_name": key_meta.get("hybrid_key_name") or None,
            "key_id": key_meta.get("hybrid_key_id") or None,
            "key_budget": key_meta.get("hybrid_daily_budget_usd"),
            "spend": key_meta.get("hybrid_spend"),  # read by the auth module with the key
        }

    async def _budgets(self, caller: dict[str, Any]) -> tuple[bool, bool, float | None]:
        """(deployment over budget, key over its budget, spend today or None when unknown)."""
        try:
            if caller["spend"] is not None:
                spent, key_spent = caller["spend"]
            else:  # the master key: no lookup ran
                spent, key_spent = await self.store.spent(), 0.0
        except StoreDown:
            return True, bool(caller["key_budget"]), None
        budget = self.policy["daily_cloud_budget_usd"]
        self.store.metrics.set("spend", spent)
        self.store.metrics.set("spent", 1 if spent >= budget else 0)
        over_key = bool(caller["key_budget"]) and key_spent >= float(caller["key_budget"])
        return spent >= budget, over_key, spent

    def _alert(self, spent: float | None) -> None:
        """The budget-spent log line, once a day per gateway process (Prometheus alerts too)."""

        if self._alerted_day == today():
            return
        self._alerted_day = today()
        policy = self.policy
        LOG.error(
            "hybrid_router: ALERT daily cloud budget of $%g spent ($%s today); over_budget=%s",
            policy["daily_cloud_budget_usd"],
            "unknown (Redis down)" if spent is None else f"{spent:.4f}",
            policy.get("over_budget", "cheapest_cloud"),
        )

    async def _plan(
        self, data: dict[str, Any], caller: dict[str, Any], messages: list[dict[str, Any]]
    ) -> dict[str, Any]:
        policy = self.policy
        model = data.get("model")
        requested = resolve_model(policy, model)
        features = request_features(messages, policy["complexity"]["long_request_chars"])
        score = complexity_score(features, policy["complexity"]["weights"])
        local_only = keeps_local(policy, features)
        if local_only and "local" not in allowed_routes(policy, caller["user_tier"]):
            raise refuse_personal_data(caller["user_tier"])  # an own key's provider is a cloud
        if caller["user_tier"] == "own_key":
            vendor = key_vendor(
                policy, str(caller["provider_key"]), _header(data, policy["headers"]["provider"])
            )
            target = own_key_target(policy, vendor, requested, model)
            reason = f"own key for {vendor}: {target['model']} only"
            return {**target, "score": score, "reason": reason, "over_budget": False}
        over, key_over, spent = await self._budgets(caller)
        if over:
            self._alert(spent)
        ceiling = requested["route"] if requested else None
        need = self.need_model.need(request_text(messages)) if self.need_model else None
        kwargs = {
            "score": score,
            "strategy": caller["strategy"],
            "user_tier": caller["user_tier"],
            "need": need,
        }
        route, reason = choose_route(
            policy,
            **kwargs,
            over_budget=over,
            requested=ceiling,
            latency_s=self.latency_s,
            task_type=caller["task_type"],
            key_over_budget=key_over,
            local_only=local_only,
        )
        usable = usable_routes(  # local_only: no fallback or escalation may take it off the box
            policy,
            caller["user_tier"],
            over_budget=over,
            key_over_budget=key_over,
            ceiling=ceiling,
            local_only=local_only,
        )
        target = local_target(
            policy, route, **kwargs, over_budget=over, requested=ceiling, usable=usable,
            task_type=caller["task_type"],
        )  # fmt: skip
        if requested and requested["group"] != requested["route"] and route == requested["route"]:
            target.update(model=requested["group"], serves=requested["group"])
            reason += f"; {model} by name"
        elif target["model"] != route:
            reason += "; complex local model first"
        return {
            **target,
            "score": score,
            "need": need,
            "reason": reason,
            "over_budget": over,
            "local_only": local_only,
        }

    def route_settings(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The router fields the policy sets on every request: where a failure may go, retries."""
        chain = [{plan["model"]: plan["fallbacks"]}] if plan["fallbacks"] else []
        serving = (self.policy["models"].get(plan["model"]) or {}).get("route", plan["route"])
        retries = self.policy.get("retries") or {}
        return {
            "fallbacks": chain,
            "context_window_fallbacks": chain,
            "content_policy_fallbacks": chain,
            "num_retries": int(retries.get(serving, 0)),
        }

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        if not isinstance(data, dict):
            return data
        for field in ROUTING_FIELDS:
            data.pop(field, None)
        if call_type not in CHAT_CALLS + TEXT_CALLS:
            return data
        key_meta = getattr(user_api_key_dict, "metadata", None) or {}
        try:
            if not data.get("model"):
                raise Rejected(400, f'no model: send "model": "{self.policy["auto_model"]}"')
            messages = _messages(data, call_type)
            caller = self._caller(data, key_meta if isinstance(key_meta, dict) else {})
            plan = await self._around_a_down_server(await self._plan(data, caller, messages))
        except Rejected as exc:
            self.store.metrics.count("rejected", status=str(exc.status))
            LOG.warning("hybrid_router: refused (%s): %s", exc.status, exc.message)
            raise _http(exc.status, exc.message) from None
        model = data.get("model")
        data["model"] = plan["model"]
        data.update(self.route_settings(plan))
        threshold = self.policy["user_tiers"][caller["user_tier"]].get("min_confidence")
        escalate_to = plan["fallbacks"][0] if plan["fallbacks"] else None
        if plan["route"] != "local" or plan.get("local_down") or data.get("stream"):
            threshold = None
        if not escalate_to:
            threshold = None
        added = threshold is not None and not data.get("logprobs")
        if added:  # llama-server returns each token's log-probability (top_logprobs >= 1)
            data.update(logprobs=True, top_logprobs=max(1, int(data.get("top_logprobs") or 1)))
        meta = _metadata(data)
        meta[KEEP_MODEL_NAME] = True
        if plan["route"] == "local" and not plan.get("local_down"):
            call = str(data.get("litellm_call_id") or id(data))
            self._local_calls[call] = time.monotonic()
            meta["hybrid_local_call"] = call
        meta.update(
            hybrid_route=plan["route"],
            hybrid_model=plan["serves"],
            hybrid_score=plan["score"],
            hybrid_need=plan.get("need"),
            hybrid_strategy=caller["strategy"],
            hybrid_user_tier=caller["user_tier"],
            hybrid_reason=plan["reason"],
            hybrid_own_key=bool(caller["provider_key"]),
            hybrid_key_name=caller["key_name"],
            hybrid_key_id=caller["key_id"],
            hybrid_min_confidence=threshold,
            hybrid_escalate_to=escalate_to if threshold is not None else None,
            hybrid_logprobs_added=added,
        )
        self.store.metrics.count("routed", route=plan["route"], user_tier=caller["user_tier"])
        if plan.get("need") is not None:
            bucket = need_bucket(float(plan["need"]))
            self.store.metrics.count("need_routed", bucket=bucket, route=plan["route"])
        LOG.info(
            "hybrid_router: %s -> %s, model %s (score %g, tier %s, key %s, %s)",
            model, plan["route"], plan["serves"], plan["score"], caller["user_tier"],
            caller["key_name"] or "-", plan["reason"],
        )  # fmt: skip
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        """Names the model that answered; escalates a local answer below the tier's confidence."""
        meta = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(meta, dict) or "hybrid_route" not in meta:
            return None
        self._ended(meta)
        answer = await self._escalated(data, meta, response)
        final = answer if answer is not None else response
        self._stamp_model(meta, final)
        return answer

    def _stamp_model(self, meta: dict[str, Any], response: Any) -> None:
        """The response's `model`: the local model that answered, else the cloud's own name."""
        local = self.policy["local_models"]
        group = _answer_group(response)
        name = answering_model(self.policy, str(meta.get("hybrid_model", "")), group)
        is_local = name in (local.get("simple"), local.get("complex")) or name == "local"
        if is_local and hasattr(response, "model"):
            response.model = local["simple"] if name == "local" else name

    async def _escalated(self, data: dict[str, Any], meta: dict[str, Any], response: Any) -> Any:
        """The hybrid strategy's escalation: a cloud answer, or None to keep the local one."""
        if not meta.get("hybrid_escalate_to"):
            return None
        group = _answer_group(response)
        local = self.policy["local_models"]
        if group not in (None, "local", local.get("simple"), local.get("complex")):
            return None  # a fallback answered already
        confidence = answer_confidence(response)
        if meta.get("hybrid_logprobs_added"):  # the client did not ask for them
            for choice in getattr(response, "choices", None) or []:
                if hasattr(choice, "logprobs"):
                    choice.logprobs = None
        if confidence is None:
            LOG.warning("hybrid_router: the local answer carried no log-probabilities")
            return None
        need = meta.get("hybrid_need")
        bucket = need_bucket(float(need)) if need is not None else None
        if bucket is not None:
            self.store.metrics.count("need_checked", bucket=bucket)
        if confidence >= float(meta["hybrid_min_confidence"]):
            return None
        if bucket is not None:  # the local answer was not good enough: the label the box learns
            self.store.metrics.count("need_escalated", bucket=bucket)
        target = str(meta["hybrid_escalate_to"])
        from litellm.proxy.proxy_server import llm_router

        params = {k: data[k] for k in ESCALATION_PARAMS if k in data}
        try:
            answer = await llm_router.acompletion(
                model=target,
                **params,
                metadata={
                    "hybrid_key_name": meta.get("hybrid_key_name"),
                    "hybrid_key_id": meta.get("hybrid_key_id"),
                    "hybrid_own_key": False,
                    "hybrid_escalated_from": "local",
                },
            )
        except Exception as exc:  # keep the local answer rather than fail the request
            LOG.warning("hybrid_router: escalation to %s failed: %s", target, exc)
            return None
        meta["hybrid_escalated"] = (
            f"confidence {confidence:.3g} < {meta['hybrid_min_confidence']:g}"
        )
        meta["hybrid_model"] = target
        self.store.metrics.count("escalated", to=target)
        LOG.info("hybrid_router: local answer %s -> %s", meta["hybrid_escalated"], target)
        return answer

    async def async_post_call_failure_hook(
        self, request_data, original_exception, user_api_key_dict, traceback_str=None
    ):
        """A failed route's error as a status and words that name no host, config or object."""
        try:
            from fastapi import HTTPException
        except ImportError:
            return None
        if isinstance(original_exception, HTTPException) or (
            type(original_exception).__name__ == "ProxyException"
        ):
            return None  # the hook's own refusals and the key checks say what they mean
        meta = request_data.get("metadata") if isinstance(request_data, dict) else None
        self._ended(meta)
        route = meta.get("hybrid_route") if isinstance(meta, dict) else None
        kind = failure_kind(original_exception)
        if kind == "vendor_auth" and isinstance(meta, dict) and meta.get("hybrid_own_key"):
            kind = "own_key_auth"  # the credentials were the client's own
        status, message = FAILURES[kind]
        LOG.warning(
            "hybrid_router: %s route failed (%s -> %s): %s",
            route or "unrouted", type(original_exception).__name__, status, original_exception,
        )  # fmt: skip
        return _http(status, message if route is None else f"{message} (route {route})")

    async def async_post_call_response_headers_hook(
        self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None
    ):
        meta = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(meta, dict) or "hybrid_route" not in meta:
            return None
        planned = str(meta.get("hybrid_model", meta["hybrid_route"]))
        headers = {
            "x-hybrid-route": str(meta["hybrid_route"]),
            "x-hybrid-model": answering_model(self.policy, planned, _answer_group(response)),
            "x-hybrid-complexity": f"{meta['hybrid_score']:g}",
            "x-hybrid-strategy": str(meta["hybrid_strategy"]),
            "x-hybrid-user-tier": str(meta["hybrid_user_tier"]),
        }
        if meta.get("hybrid_escalated"):
            headers["x-hybrid-escalated"] = str(meta["hybrid_escalated"])
        return headers

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._ended(self._logged_metadata(kwargs))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._ended(self._logged_metadata(kwargs))
        try:
            await self._record(kwargs, response_obj, start_time, end_time)
        except Exception as exc:  # accounting must never fail a request
            LOG.warning("hybrid_router: could not record spend: %s", exc)

    async def _record(self, kwargs, response_obj, start_time, end_time) -> None:
        params = kwargs.get("litellm_params") or {}
        meta = params.get("metadata") or {}
        logged = kwargs.get("standard_logging_object") or {}
        group = logged.get("model_group") or meta.get("model_group")
        entry = self.policy["models"].get(group) if isinstance(group, str) else None
        route = entry["route"] if entry else None
        if route in ROUTE_ORDER and start_time and end_time:
            seconds = (end_time - start_time).total_seconds()
            previous = self.latency_s.get(route)
            self.latency_s[route] = seconds if previous is None else 0.8 * previous + 0.2 * seconds
        if route not in ("medium", "large") or meta.get("hybrid_own_key"):
            return  # local costs nothing per request; an own key is the user's bill
        cost = kwargs.get("response_cost")
        if not cost:
            usage = getattr(response_obj, "usage", None)
            prices = self.policy["route_prices"].get(route, {})
            prompt = getattr(usage, "prompt_tokens", 0) or 0
            completion = getattr(usage, "completion_tokens", 0) or 0
            cost = (
                prompt * prices.get("input_usd_per_mtok", 0)
                + completion * prices.get("output_usd_per_mtok", 0)
            ) / 1e6
        await self.store.add(float(cost), meta.get("hybrid_key_id") or None)
