"""Turn Pulumi's errors into hybridctl errors that say what happened and what to run next."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hybridctl.errors import HybridctlError, OperationFailed, UsageError

PULUMI_INSTALL = "curl -fsSL https://get.pulumi.com | sh"

_PLUGIN = re.compile(
    r"(?:no resource plugin|(?:failed to (?:download|install)|could not (?:find|load)) plugin)"
    r"(?: for)?[\s:']*(?:pulumi-resource-)?([a-z][a-z0-9]*)",
    re.IGNORECASE,
)
_PENDING = re.compile(r"pending operations?", re.IGNORECASE)
_PASSPHRASE = re.compile(r"(incorrect passphrase|passphrase must be set|decrypt)", re.IGNORECASE)
_AUTH = re.compile(
    r"(401|403|unauthori[sz]ed|invalid token|token is invalid|InvalidClientTokenId|"
    r"AuthFailure|could not find default credentials|permission denied on resource)",
    re.IGNORECASE,
)


def missing_cli() -> UsageError:
    """The Pulumi CLI is not installed."""
    return UsageError(
        "the Pulumi CLI (`pulumi`) is not installed or not on PATH; deploy, status and destroy "
        "drive it through Pulumi's Automation API",
        hint=f"Install it with `{PULUMI_INSTALL}` (then open a new shell or add ~/.pulumi/bin to "
        "PATH). `hybridctl deploy --plan` works without it.",
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret value replaced, so no message can leak one."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[secret]")
    return text


def _detail(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None)
    stdout = getattr(exc, "stdout", None)
    if stderr is None and stdout is None:
        return str(exc)
    return f"{stdout or ''}\n{stderr or ''}"


def _error_lines(text: str, limit: int = 8) -> str:
    """The lines of Pulumi's output that carry the error (diagnostics), at most `limit`."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    picked = [
        line
        for line in lines
        if re.search(r"error|failed|unable|cannot|denied|invalid", line, re.IGNORECASE)
    ]
    chosen = picked or lines[-limit:]
    return "\n".join(f"  {line.strip()}" for line in chosen[:limit])


def map_pulumi_error(
    exc: BaseException, *, name: str, operation: str, secrets: Iterable[str] = ()
) -> HybridctlError:
    """A clear error for a failed Pulumi operation on deployment `name` (secrets scrubbed)."""
    from pulumi.automation import errors as auto_errors

    if isinstance(exc, HybridctlError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return missing_cli()
    secrets = list(secrets)
    text = scrub(_detail(exc), secrets)
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        return OperationFailed(
            f"deployment {name!r} is locked: another update of its stack is running or was "
            "killed without releasing the lock",
            hint=f"If no other hybridctl/pulumi process is working on it, release the lock with "
            f"`hybridctl deploy --cancel {name}` (or `pulumi cancel --stack {name}` in "
            f"{_workspace_hint(name)}), then run the command again.",
        )
    if isinstance(exc, auto_errors.StackNotFoundError):
        return OperationFailed(
            f"the Pulumi stack of deployment {name!r} does not exist in this backend",
            hint="Check --backend (the stack lives where it was first deployed), "
            "or deploy it again.",
        )
    plugin = _PLUGIN.search(text)
    if plugin:
        found = plugin.group(1)
        return UsageError(
            f"the Pulumi plugin for {found} is missing and could not be installed",
            hint=f"Install it with `pulumi plugin install resource {found}` (needs network access "
            "to get.pulumi.com / GitHub), then run the command again.",
        )
    if _PENDING.search(text):
        return OperationFailed(
            f"deployment {name!r} has pending operations from an interrupted {operation}",
            hint=f"Resume with `hybridctl deploy --resume {name}` (refresh, then update), or "
            f"release a stale lock with `hybridctl deploy --cancel {name}`.",
        )
    if _PASSPHRASE.search(text) and "passphrase" in text.lower():
        return UsageError(
            f"Pulumi could not decrypt the secrets of deployment {name!r}: wrong passphrase",
            hint="Set PULUMI_CONFIG_PASSPHRASE to the passphrase the stack was created with "
            "(hybridctl's default lives in its state directory as pulumi-passphrase).",
        )
    if _AUTH.search(text):
        return UsageError(
            f"the cloud provider refused the credentials during {operation} of {name!r}:\n"
            f"{_error_lines(text)}",
            hint="Check the token/keys in the environment (HCLOUD_TOKEN, AWS_*, GOOGLE_*) and "
            "their permissions.",
        )
    return OperationFailed(
        f"pulumi {operation} of deployment {name!r} failed:\n{_error_lines(text)}",
        hint=f"See the progress above; fix the cause and run it again. An interrupted deploy is "
        f"resumed with `hybridctl deploy --resume {name}`.",
    )


def _workspace_hint(name: str) -> str:
    from hybridctl.catalog.deployments import workspace_dir

    return str(workspace_dir(name))
