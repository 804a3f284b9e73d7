"""Client keys of a deployment: runs the hook's keys module inside its gateway container.

The gateway container holds what the key store needs (the Redis address in hybrid_policy.json,
the password in its environment), so `hybridctl keys` never handles the Redis password: it runs
`docker compose exec gateway python -m hybrid_hook.keys ...` on the box, here for a
local deployment or over SSH (host key pinned) for a cloud one, and reads the JSON it prints.
A new key is generated there and comes back once, through that command's output.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from hybridctl.errors import InputError, OperationFailed, UsageError
from hybridctl.stackfacts import HOOK_PACKAGE

# The hook package is on the gateway container's PYTHONPATH (the mounted router folder).
KEYS_MODULE = f"{HOOK_PACKAGE}.keys"
# A box whose bundle was rendered before the hook became a package (until `hybridctl upgrade`).
LEGACY_KEYS_SCRIPT = "/app/router/hybrid_keys.py"
USER_TIERS = ("free", "paid", "own_key")
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Runner(Protocol):
    where: str

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Any: ...


def _checked_name(name: str) -> str:
    if not KEY_NAME.match(name):
        raise InputError(
            f"key name {name!r} is not valid", hint="Use 1-64 letters, digits, '.', '_' or '-'."
        )
    return name


def add_args(name: str, tier: str | None, daily_budget: float | None) -> list[str]:
    """The keys module's arguments to add a key, or a usage error (exit 2)."""
    if tier not in USER_TIERS:
        raise UsageError(
            f"keys add needs --tier {'|'.join(USER_TIERS)}" + (f" (got {tier!r})" if tier else ""),
            hint="The tier decides the routes a key may use (catalog routing.user_tiers).",
        )
    args = ["add", _checked_name(name), "--tier", tier]
    if daily_budget is not None:
        if not daily_budget > 0:
            raise InputError("--daily-budget must be a positive number of USD")
        args += ["--daily-budget", f"{daily_budget:g}"]
    return args


def revoke_args(name: str) -> list[str]:
    """The keys module's arguments to revoke a key."""
    return ["revoke", _checked_name(name)]


def pick_deployment(name: str | None) -> str:
    """The named deployment, or the only one there is."""
    from hybridctl.catalog import deployments

    if name:
        return deployments.load_record(name).name
    known = [r.name for r in deployments.list_records()]
    if len(known) == 1:
        return known[0]
    raise UsageError(
        "say which deployment: --deployment NAME"
        + (f" (known: {', '.join(known)})" if known else " (there is none yet)"),
    )


def run_keys(deployment: str, args: list[str], runner: Runner | None = None) -> Any:
    """Run the keys module with `args` in the deployment's gateway; its JSON answer."""
    if runner is None:
        from hybridctl.catalog import deployments
        from hybridctl.deploy.box.adapter import box_for

        runner = box_for(deployments.load_record(deployment))
    done = runner.compose("exec", "-T", "gateway", "python", "-m", KEYS_MODULE, *args, timeout=120)
    missing = f"No module named {KEYS_MODULE.split('.')[0]!r}"
    if done.returncode != 0 and missing in done.stderr.decode("utf-8", "replace"):
        done = runner.compose(
            "exec", "-T", "gateway", "python", LEGACY_KEYS_SCRIPT, *args, timeout=120
        )
    text = done.stdout.decode("utf-8", "replace").strip()
    try:
        answer = json.loads(text.splitlines()[-1]) if text else None
    except json.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        error = str(answer["error"])
        if done.returncode == 2:
            raise InputError(f"{deployment}: {error}")
        raise OperationFailed(f"{deployment}: {error}")
    if done.returncode != 0 or answer is None:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise OperationFailed(
            f"could not reach the key store of {deployment} on {runner.where} "
            f"(exit {done.returncode}): {' '.join(detail) or text or 'no output'}",
            hint=f"Is the box up? hybridctl status {deployment} --check",
        )
    return answer
