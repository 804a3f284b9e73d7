"""The gateway's shared state in Redis: hashed client keys, daily cloud spend, and its metrics.

Part of the gateway hook package. One Redis (the deployment's, append-only) holds the state of every
gateway node, so N nodes share one budget and a restart loses nothing. Without a Redis in the
policy (a single-node tier) spend is counted in this process and client keys are unavailable.
When the policy names a Redis that does not answer, the budget counts as spent (fail safe: no
node silently keeps its own, smaller tally) and the log and the metrics say so.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import threading
import time
from typing import Any

LOG = logging.getLogger("hybrid_router")
PREFIX = "hybridctl:"
SPEND_TTL_S = 3 * 86400
STORE_TIMEOUT_S = 1.0  # one try, no retries: a Redis that does not answer fails fast
STORE_REST_S = 5.0  # after a failure, requests skip Redis this long instead of each waiting


class StoreDown(Exception):
    """The policy's Redis did not answer."""


def key_digest(key: str) -> str:
    """A client key's stored form: keys are 256-bit random, so a plain SHA-256 is enough."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def today() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d")


def spend_key(day: str, key_id: str | None = None) -> str:
    """Today's cloud spend: the deployment's, or one client key's (by the key's digest)."""
    if key_id is None:
        return f"{PREFIX}cloud_spend_usd:{day}"
    return f"{PREFIX}key_spend_usd:{key_id}:{day}"


def record_key(digest: str) -> str:
    return f"{PREFIX}key:{digest}"


def name_key(name: str) -> str:
    return f"{PREFIX}keyname:{name}"


def redis_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """Connection settings; on a multi-node box the environment names node 0's shared Redis."""
    return {
        "host": os.environ.get(settings.get("host_env") or "") or settings["host"],
        "port": int(settings["port"]),
        "password": os.environ.get(settings["password_env"]) or None,
        "socket_timeout": STORE_TIMEOUT_S,
        "socket_connect_timeout": STORE_TIMEOUT_S,
        "decode_responses": True,
    }


def _metric(kind: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
    """A prometheus_client metric, reused when this module is imported twice (None: no client)."""
    try:
        import prometheus_client
    except ImportError:
        return None
    try:
        return getattr(prometheus_client, kind)(name, doc, labels)
    except ValueError:  # already registered by an earlier import of this file
        return prometheus_client.REGISTRY._names_to_collectors.get(name)


class Metrics:
    """What the hook exports on the gateway's /metrics/ (Prometheus alerts on these)."""

    def __init__(self) -> None:
        self.spend = _metric("Gauge", "hybrid_cloud_spend_usd", "Cloud spend today (UTC), USD")
        self.budget = _metric("Gauge", "hybrid_daily_cloud_budget_usd", "Daily cloud budget")
        self.spent = _metric("Gauge", "hybrid_cloud_budget_spent", "1 when the budget is spent")
        self.store_up = _metric("Gauge", "hybrid_spend_store_up", "1 when Redis answers")
        self.routed = _metric(
            "Counter", "hybrid_routed_requests", "Requests by route", ("route", "user_tier")
        )
        self.escalated = _metric(
            "Counter", "hybrid_escalations", "Low-confidence local answers escalated", ("to",)
        )
        self.rejected = _metric("Counter", "hybrid_rejected_requests", "Refusals", ("status",))
        # What the box learns (counts, never content): per need band, the route taken, the local
        # answers whose confidence was checked, and those escalated; `hybridctl route refit`
        # re-fits the need threshold from these.
        self.need_routed = _metric(
            "Counter", "hybrid_need_requests", "Requests by need band, route", ("bucket", "route")
        )
        self.need_checked = _metric(
            "Counter", "hybrid_need_local_checked", "Local answers checked", ("bucket",)
        )
        self.need_escalated = _metric(
            "Counter",
            "hybrid_need_escalations",
            "Local answers below the confidence threshold, by need band",
            ("bucket",),
        )

    def set(self, name: str, value: float) -> None:
        metric = getattr(self, name)
        if metric is not None:
            metric.set(value)

    def count(self, name: str, **labels: str) -> None:
        metric = getattr(self, name)
        if metric is not None:
            (metric.labels(**labels) if labels else metric).inc()


class Store:
    """Client keys and daily spend: in Redis when the policy names one, else in this process."""

    def __init__(self, settings: dict[str, Any] | None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._lock = threading.Lock()
        self._local: dict[str, float] = {}
        self._pending: dict[str, float] = {}  # spend that a Redis outage kept from being written
        self._client: Any = None
        self._down_until = 0.0
        if settings is None:
            LOG.warning("hybrid_router: no Redis: spend kept in this process (single node only)")

    def client(self) -> Any:
        """The Redis client, None without a Redis in the policy; StoreDown without the package."""
        if self._client is None and self.settings:
            try:
                import redis.asyncio as aioredis
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff
            except ImportError as exc:
                raise self._down("import", exc) from exc
            self._client = aioredis.Redis(
                **redis_kwargs(self.settings), retry=Retry(NoBackoff(), 0)
            )
        if self._client is not None and time.monotonic() < self._down_until:
            raise StoreDown("Redis failed in the last few seconds")
        return self._client

    def _down(self, what: str, exc: Exception) -> StoreDown:
        self.metrics.set("store_up", 0)
        self._down_until = time.monotonic() + STORE_REST_S
        LOG.error("hybrid_router: Redis %s failed (%s): budget counts as spent", what, exc)
        return StoreDown(str(exc))

    async def lookup(self, digest: str) -> tuple[dict[str, str] | None, float, float]:
        """A client key's record, the deployment's and the key's spend today: one round trip."""
        client = self.client()
        if client is None:
            return None, 0.0, 0.0
        day = today()
        deployment, key = spend_key(day), spend_key(day, digest)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hgetall(record_key(digest)).get(deployment).get(key)
            record, spent, key_spent = await pipe.execute()
        except Exception as exc:
            raise self._down("key lookup", exc) from exc
        self.metrics.set("store_up", 1)
        pending = self._pending
        return (
            record or None,
            float(spent or 0.0) + pending.get(deployment, 0.0),
            float(key_spent or 0.0) + pending.get(key, 0.0),
        )

    async def spent(self, key_id: str | None = None) -> float:
        """Cloud spend today, for the deployment or one client key; StoreDown when Redis fails."""
        name = spend_key(today(), key_id)
        client = self.client()
        if client is None:
            with self._lock:
                return self._local.get(name, 0.0)
        try:
            value = await client.get(name)
        except Exception as exc:
            raise self._down("read", exc) from exc
        self.metrics.set("store_up", 1)
        return float(value or 0.0) + self._pending.get(name, 0.0)

    async def add(self, usd: float, key_id: str | None = None) -> None:
        day = today()
        names = [spend_key(day)] + ([spend_key(day, key_id)] if key_id else [])
        with self._lock:
            for name in names:
                if self.settings is None:
                    self._local[name] = self._local.get(name, 0.0) + usd
                else:
                    self._pending[name] = self._pending.get(name, 0.0) + usd
        if self.settings is None:
            return
        client = self.client()  # StoreDown: the spend stays pending for the next write
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            for name, amount in pending.items():
                await client.incrbyfloat(name, amount)
                await client.expire(name, SPEND_TTL_S)
        except Exception as exc:
            with self._lock:
                for name, amount in pending.items():
                    self._pending[name] = self._pending.get(name, 0.0) + amount
            self._down("write", exc)
        else:
            self.metrics.set("store_up", 1)


_SHARED: dict[str, Store] = {}


def shared_store(settings: dict[str, Any] | None) -> Store:
    """One Store per Redis in this process (the auth hook and the router share it)."""
    name = json.dumps(settings, sort_keys=True)
    if name not in _SHARED:
        _SHARED[name] = Store(settings)
    return _SHARED[name]
