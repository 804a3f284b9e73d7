"""Provider credentials: check them before anything starts, and turn them into stack config."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.errors import UsageError


@dataclass(frozen=True)
class ProviderConfig:
    """Stack config for a provider: plain values, secrets (set through stdin), and their source."""

    provider: str
    plain: dict[str, str] = field(default_factory=dict)
    secret: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = ""


def provider_config(
    provider: str, region: str, env: Mapping[str, str] | None = None
) -> ProviderConfig:
    """Check the provider's credentials and build its stack config; name whatever is missing."""
    env = os.environ if env is None else env
    if provider == "hetzner":
        return _hetzner(env)
    if provider == "aws":
        return _aws(region, env)
    if provider == "gcp":
        return _gcp(region, env)
    raise UsageError(f"unknown provider {provider!r}", hint="Choose one of: hetzner, aws, gcp.")


def _missing(variable: str, what: str, how: str) -> UsageError:
    return UsageError(f"{what} are missing: {variable} is not set", hint=how)


def _hetzner(env: Mapping[str, str]) -> ProviderConfig:
    token = env.get("HCLOUD_TOKEN", "").strip()
    if not token:
        raise _missing(
            "HCLOUD_TOKEN",
            "Hetzner Cloud credentials",
            "Create an API token (Read & Write) in the Hetzner Cloud Console under Security > "
            "API tokens, then `export HCLOUD_TOKEN=...` (use --plan to preview without one).",
        )
    return ProviderConfig("hetzner", secret={"hcloud:token": token}, source="HCLOUD_TOKEN")


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def _aws(region: str, env: Mapping[str, str]) -> ProviderConfig:
    plain = {"aws:region": region}
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key_id and not secret:
        raise _missing(
            "AWS_SECRET_ACCESS_KEY",
            "AWS credentials",
            "AWS_ACCESS_KEY_ID is set but its secret is not: export AWS_SECRET_ACCESS_KEY too.",
        )
    if key_id and secret:
        return ProviderConfig("aws", plain=plain, source="AWS_ACCESS_KEY_ID")
    for variable in (
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        if env.get(variable):
            return ProviderConfig("aws", plain=plain, source=variable)
    shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or _home(env) / ".aws" / "credentials")
    if shared.is_file():
        return ProviderConfig("aws", plain=plain, source=str(shared))
    raise _missing(
        "AWS_ACCESS_KEY_ID",
        "AWS credentials",
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials"
        ", e.g. after `aws configure`); use --plan to preview without them.",
    )


def gcp_region_and_zone(location: str) -> tuple[str, str]:
    """(region, zone) from either, chosen as the GCP program chooses them."""
    from hybridctl.stacks.gcp import region_of, zone_for

    zone = zone_for(location)
    return region_of(zone), zone


def _gcp_credentials(env: Mapping[str, str]) -> tuple[str, Path | None, str | None]:
    """(source, credentials file or None, inline JSON or None)."""
    inline = env.get("GOOGLE_CREDENTIALS", "").strip()
    if inline:
        if inline.startswith("{"):
            return "GOOGLE_CREDENTIALS", None, inline
        return "GOOGLE_CREDENTIALS", Path(inline), None
    path = env.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    if path:
        if not Path(path).is_file():
            raise UsageError(
                f"GOOGLE_APPLICATION_CREDENTIALS points to {path}, which does not exist",
                hint="Point it at a service-account JSON key file.",
            )
        return "GOOGLE_APPLICATION_CREDENTIALS", Path(path), None
    config_home = Path(env.get("CLOUDSDK_CONFIG") or _home(env) / ".config" / "gcloud")
    adc = config_home / "application_default_credentials.json"
    if adc.is_file():
        return str(adc), adc, None
    raise _missing(
        "GOOGLE_CREDENTIALS",
        "Google Cloud credentials",
        "export GOOGLE_CREDENTIALS (service-account JSON or its path) or "
        "GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`; "
        "use --plan to preview without them.",
    )


def _gcp(location: str, env: Mapping[str, str]) -> ProviderConfig:
    source, path, inline = _gcp_credentials(env)
    project = next(
        (
            env[v]
            for v in ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
            if env.get(v)
        ),
        None,
    )
    if project is None:
        try:
            text = inline if inline is not None else path.read_text() if path else "{}"
            project = json.loads(text).get("project_id") or json.loads(text).get("quota_project_id")
        except (OSError, ValueError, AttributeError):
            project = None
    if not project:
        raise _missing(
            "GOOGLE_PROJECT",
            "the Google Cloud project",
            "export GOOGLE_PROJECT=<project id> (it could not be read from the credentials).",
        )
    region, zone = gcp_region_and_zone(location)
    plain = {"gcp:project": project, "gcp:region": region, "gcp:zone": zone}
    return ProviderConfig("gcp", plain=plain, source=source)
