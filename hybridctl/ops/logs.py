"""`hybridctl logs`: a deployment's service logs, here or over SSH, optionally followed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from hybridctl.deploy.box.adapter import Box
from hybridctl.errors import OperationFailed, UsageError
from hybridctl.ops.probes import declared_services
from hybridctl.suggest import close_matches

DEFAULT_TAIL = 200
# What `docker compose logs --since` takes: a Go duration (90s, 10m, 1h30m), a date or an
# RFC 3339 time, or Unix seconds.
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
_STAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$|^\d{9,10}$"
)


def check_since(since: str) -> str:
    if not (_DURATION.match(since) or _STAMP.match(since)):
        raise UsageError(
            f"--since {since!r} is neither a duration nor a time",
            hint="e.g. --since 10m, --since 2h, --since 2026-11-29T14:00:00Z",
        )
    return since


def logs_args(
    service: str | None, *, since: str | None, tail: int | None, follow: bool, timestamps: bool
) -> list[str]:
    """The `docker compose logs` arguments (no colour: the output may go to a file)."""
    args = ["logs", "--no-color"]
    if since:
        args += ["--since", check_since(since)]
    if tail is not None:
        if tail < 0:
            raise UsageError(f"--tail must be 0 or more, got {tail}")
        args += ["--tail", str(tail)]
    elif not since:
        args += ["--tail", str(DEFAULT_TAIL)]
    if follow:
        args.append("--follow")
    if timestamps:
        args.append("--timestamps")
    if service:
        args.append(service)
    return args


def check_service(runner: Box, service: str, deployment: str) -> None:
    known = declared_services(runner)
    if known and service not in known:
        close = close_matches(service, known)
        raise UsageError(
            f"deployment {deployment} has no service {service!r}"
            + (f"; did you mean {close}?" if close else ""),
            hint=f"Its services: {', '.join(known)}.",
        )


def failure_note(deployment: str) -> str | None:
    """Where the last failed deploy or upgrade kept its services' logs, if one did: a rollback
    replaces the containers, so `docker compose logs` no longer shows why it failed."""
    from hybridctl.deploy.box.failure import failure_log

    path = failure_log(deployment)
    if not path.is_file():
        return None
    when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"the last failed deploy or upgrade of {deployment} ({when}) kept its services' logs, "
        f"from before any rollback, in {path}"
    )


def show_logs(
    runner: Box,
    deployment: str,
    service: str | None,
    *,
    write: Callable[[bytes], None],
    since: str | None = None,
    tail: int | None = None,
    follow: bool = False,
    timestamps: bool = False,
    note: Callable[[str], None] | None = None,
) -> None:
    """Write the logs through `write`; with follow, until the user's Ctrl-C. `note` gets a
    line that is not a log line (where a failed deploy's logs are kept), for stderr."""
    args = logs_args(service, since=since, tail=tail, follow=follow, timestamps=timestamps)
    if service:
        check_service(runner, service, deployment)
    kept = failure_note(deployment)
    if note is not None and kept is not None:
        note(kept)
    if follow:
        code = runner.follow(*args, on_chunk=write)
        if code not in (0, 130, 143, -2, -15):
            raise OperationFailed(f"docker compose logs on {runner.where} ended with exit {code}")
        return
    done = runner.compose(*args, timeout=300)
    if done.returncode != 0:
        raise OperationFailed(
            f"docker compose logs on {runner.where} failed: {done.error_text[-500:]}"
        )
    write(done.stdout)
