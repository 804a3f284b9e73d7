"""Client keys in the deployment's Redis: add (printed once, stored hashed), list, revoke.

Run inside the gateway container as `python -m hybrid_hook.keys` (`hybridctl keys` runs it there
through `docker compose exec`, locally or over SSH): it reads the Redis address from
hybrid_policy.json and the password from the container's environment. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import secrets
import sys
from typing import Any, NoReturn

from .rules import load_policy
from .store import key_digest, name_key, record_key, redis_kwargs, spend_key, today

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_PREFIX = "sk-hyb-"


def _fail(message: str, code: int = 2) -> NoReturn:
    print(json.dumps({"error": message}))
    sys.exit(code)


def _client(policy: dict[str, Any]) -> Any:
    settings = policy.get("spend_store")
    if not settings:
        _fail("this tier has no Redis, so it keeps no client keys (clients use the master key)")
    import redis

    return redis.Redis(**redis_kwargs(settings))


def add(client: Any, policy: dict[str, Any], name: str, tier: str, budget: float | None) -> dict:
    if not NAME.match(name):
        _fail(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if tier not in policy["user_tiers"]:
        _fail(f"unknown user tier {tier!r}; use one of {', '.join(sorted(policy['user_tiers']))}")
    if budget is not None and budget <= 0:
        _fail("--daily-budget must be a positive number of USD")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = key_digest(key)
    if not client.set(name_key(name), digest, nx=True):
        _fail(f"a key named {name!r} exists; revoke it first or pick another name")
    record = {
        "name": name,
        "tier": tier,
        "daily_budget_usd": "" if budget is None else f"{budget:g}",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    client.hset(record_key(digest), mapping=record)
    return {**record, "key": key}


def listing(client: Any) -> list[dict]:
    rows = []
    for name in sorted(client.scan_iter(match=name_key("*"), count=500)):
        digest = client.get(name)
        record = client.hgetall(record_key(digest)) if digest else {}
        if record:
            spent = client.get(spend_key(today(), digest)) or 0
            rows.append({**record, "spent_today_usd": round(float(spent), 6)})
    return rows


def revoke(client: Any, name: str) -> dict:
    digest = client.get(name_key(name))
    if not digest:
        _fail(f"no key named {name!r}", code=2)
    client.delete(record_key(digest), name_key(name))
    return {"name": name, "revoked": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hybrid_keys")
    sub = parser.add_subparsers(dest="action", required=True)
    added = sub.add_parser("add")
    added.add_argument("name")
    added.add_argument("--tier", required=True)
    added.add_argument("--daily-budget", type=float, default=None)
    sub.add_parser("list")
    revoked = sub.add_parser("revoke")
    revoked.add_argument("name")
    args = parser.parse_args(argv)
    policy = load_policy()
    client = _client(policy)
    try:
        if args.action == "add":
            result: Any = add(client, policy, args.name, args.tier, args.daily_budget)
        elif args.action == "list":
            result = listing(client)
        else:
            result = revoke(client, args.name)
    except Exception as exc:  # redis errors: say what failed, no traceback
        _fail(f"Redis: {type(exc).__name__}: {exc}", code=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
