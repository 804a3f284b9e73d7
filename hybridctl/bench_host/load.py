"""`bench --serve`: the load test's arguments, its run here, and the tier's latency note."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError, OperationFailed, UsageError


@dataclass(frozen=True)
class LoadOptions:
    """The load-test options of `bench --serve`, as given (the CA file checked)."""

    clients: int | None
    requests: int
    max_tokens: int
    served_model: str | None
    api_key_env: str | None
    target_rpm: float | None
    ca_file: Path | None = None  # verify https with this CA only; None: the system's store


def serve_ca(serve: str | None, cacert: Path | None, deployment: str | None) -> Path | None:
    """The CA that verifies the --serve URL: --cacert (checked now, before any work), else
    the deployment's own for an https URL with --deployment, else None (the system's store)."""
    from urllib.parse import urlsplit

    from hybridctl.bench.loadtest import BadInput, check_ca_file

    https = bool(serve) and urlsplit(serve or "").scheme == "https"
    if cacert is not None:
        if not https:
            raise UsageError("--cacert verifies an https --serve URL; give one, or drop --cacert")
        try:
            check_ca_file(str(cacert))
        except BadInput as exc:
            raise InputError(str(exc)) from None
        return cacert
    if not (https and deployment):
        return None
    from hybridctl.catalog.deployments import load_record
    from hybridctl.deploy.box.edge import ca_certificate

    if load_record(deployment).outputs.get("domain"):
        return None  # a public (ACME) certificate: the system's trust store verifies it
    return ca_certificate(deployment)


def promises(tier: Any) -> tuple[int | None, tuple[float, float] | None]:
    """A tier's promised concurrency and typical latency (None, None without a tier)."""
    if tier is None:
        return None, None
    return tier.promises.max_concurrent, tier.promises.typical_latency_s


def api_key(api_key_env: str | None) -> str | None:
    """The endpoint's API key from the named environment variable, if one is named."""
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env)
    if not key:
        raise InputError(f"environment variable {api_key_env} (--api-key-env) is not set")
    return key


def loadtest_args(url: str, clients: int, opts: LoadOptions, promised: int | None) -> list[str]:
    """The load test's command line (hybridctl.bench.loadtest), here or on the box."""
    args = ["--url", url, "--clients", str(clients), "--requests", str(opts.requests)]
    args += ["--max-tokens", str(opts.max_tokens)]
    if opts.served_model:
        args += ["--model", opts.served_model]
    if promised is not None:
        args += ["--promised-concurrency", str(promised)]
    if opts.target_rpm is not None:
        args += ["--target-rpm", str(opts.target_rpm)]
    return args


def run_here(
    args: list[str],
    key: str | None,
    promised: int | None,
    target_rpm: float | None,
    announce: str,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Run the load test from this machine and judge it."""
    from hybridctl.bench import loadreport, loadtest

    try:
        settings = loadtest.settings_from_args(loadtest.build_parser().parse_args(args))
    except loadtest.BadInput as exc:
        raise InputError(str(exc)) from None
    settings.api_key = key
    problem = loadtest.tls_problem(settings.url, settings.request_timeout_s, settings.ca_file)
    if problem:
        message, hint = loadtest.untrusted(settings.url, problem, settings.ca_file)
        raise OperationFailed(message, hint=hint)
    progress(announce)
    result = loadtest.run_load(settings, progress)
    result["verdict"] = loadreport.verdict(
        result, promised_concurrency=promised, target_rpm=target_rpm, max_p95_latency_s=None
    )
    return result


def note_typical_latency(
    result: dict[str, Any],
    tier_id: str | None,
    typical: tuple[float, float] | None,
    max_tokens: int,
) -> None:
    """Add the tier's quoted typical latency next to the measured p50 (reported, not judged)."""
    p50 = result["latency_s"]["p50"]
    if typical is not None and p50 is not None:
        # Reported, not judged: the guide's figure is for its answers, not for max_tokens here.
        result["verdict"]["notes"].append(
            f"tier {tier_id} quotes a typical latency of {typical[0]:g}-{typical[1]:g} s; "
            f"measured p50 {p50:.2f} s at max_tokens {max_tokens}"
        )


def write_out(result: Mapping[str, Any], out: Path | None) -> None:
    """Write the result JSON to --out, when given."""
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")


def serve_load(
    url: str,
    tier: Any,
    ssh: Any,
    opts: LoadOptions,
    *,
    remote_python: str,
    out: Path | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """`bench --serve`: load-test the URL from here, or from the box through `ssh`; judged."""
    from hybridctl.bench import defaults

    promised, typical = promises(tier)
    clients = opts.clients or promised or defaults.LOAD_CLIENTS
    key = api_key(opts.api_key_env)
    args = loadtest_args(url, clients, opts, promised)
    if ssh is None:
        announce = f"load test: {clients} clients, {opts.requests} requests against {url}"
        if opts.ca_file is not None:
            announce += f" (TLS verified with {opts.ca_file})"
            args += ["--cacert", str(opts.ca_file)]
        result = run_here(args, key, promised, opts.target_rpm, announce, progress)
    else:
        from hybridctl.remote.bench import run_remote_serve

        _code, result = run_remote_serve(
            ssh,
            args,
            api_key=key,
            ca_file=opts.ca_file,
            remote_python=remote_python,
            progress=progress,
        )
    note_typical_latency(result, tier.id if tier is not None else None, typical, opts.max_tokens)
    write_out(result, out)
    return result
