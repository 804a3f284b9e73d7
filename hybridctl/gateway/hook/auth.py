"""LiteLLM custom_auth: a client key (hashed in Redis) decides the user tier; no master key needed.

litellm_config.yaml names it as general_settings.custom_auth
(`hybrid_hook.auth.user_api_key_auth`). A client key reaches only the chat and model-list paths;
the master key stays the operator's (admin).
LiteLLM's own virtual keys need PostgreSQL, which the stand-in images lack and tier 1's 1 GiB
cannot hold, so the keys live beside the spend, in the deployment's Redis.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from .rules import load_policy
from .store import Store, StoreDown, key_digest, shared_store

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
CLIENT_PATHS = ("/chat/completions", "/v1/chat/completions", "/models", "/v1/models")
_STORE: Store | None = None


def _fail(status: int, message: str) -> Exception:
    from litellm.proxy._types import ProxyException

    return ProxyException(message=message, type="auth_error", param="api_key", code=status)


def _store() -> Store:
    global _STORE
    if _STORE is None:
        policy = load_policy()
        _STORE = shared_store(policy.get("spend_store"))
    return _STORE


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """The caller's identity: the operator (master key) or a client key's name and user tier."""
    from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

    key = (api_key or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    if not key:
        raise _fail(401, "no API key: send Authorization: Bearer <your hybridctl client key>")
    master = os.environ.get(MASTER_KEY_ENV, "")
    if master and hmac.compare_digest(key.encode(), master.encode()):
        return UserAPIKeyAuth(
            api_key=master,
            user_role=LitellmUserRoles.PROXY_ADMIN,
            metadata={"hybrid_admin": True},
        )
    digest = key_digest(key)
    try:
        record, spent, key_spent = await _store().lookup(digest)
    except StoreDown as exc:
        raise _fail(503, "the gateway's key store is not answering; try again shortly") from exc
    if record is None:
        raise _fail(401, "invalid or revoked API key")
    path = request.url.path.rstrip("/") if request is not None else "/v1/chat/completions"
    if path not in CLIENT_PATHS:
        raise _fail(403, f"a client key may use only {', '.join(CLIENT_PATHS)}")
    budget = record.get("daily_budget_usd") or ""
    return UserAPIKeyAuth(
        api_key=digest,
        key_alias=record.get("name"),
        user_role=LitellmUserRoles.INTERNAL_USER,
        metadata={
            "hybrid_key_name": record.get("name", ""),
            "hybrid_key_id": digest,  # the hash, never the key
            "hybrid_user_tier": record.get("tier", ""),
            "hybrid_daily_budget_usd": float(budget) if budget else None,
            # Read with the key in the same round trip; the pre-call hook uses them.
            "hybrid_spend": [spent, key_spent],
        },
    )
