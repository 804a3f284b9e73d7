"""A server's user data with its secrets: the rendered bundle, the pinned host key, the .env."""

from __future__ import annotations

from collections.abc import Mapping

from hybridctl.catalog.schema import Catalog
from hybridctl.render.bundle import render_files
from hybridctl.render.cloud_init import SshHostKey, build_user_data
from hybridctl.render.context import RenderOptions, validate_ssh_public_key


def render_user_data(
    catalog: Catalog,
    tier_id: str,
    provider: str,
    *,
    admin_ssh_public_key: str,
    admin_cidr: str,
    ssh_host_key: SshHostKey | None = None,
    env: Mapping[str, str] | None = None,
    domain: str | None = None,
    ollama: bool = False,
    images: dict[str, str | None] | None = None,
    with_bundle: bool = True,
) -> str:
    """User data: the hardened host, the pinned host key, the bundle (unless with_bundle is
    False: `deploy` copies it over SSH) and, if given, the .env.

    The result is a secret whenever ssh_host_key or env is given: treat it like a private key.
    Without env the stack waits (a systemd path unit) until .env is copied to the server.
    """
    options = RenderOptions(
        tier_id=tier_id,
        provider=provider,
        ollama=ollama,
        domain=domain,
        admin_cidr=admin_cidr,
        ssh_public_key=admin_ssh_public_key,
        images=images or {},
    )
    rendered = render_files(catalog, options)
    if ssh_host_key is not None:
        validate_ssh_public_key(ssh_host_key.public_openssh)
    return build_user_data(
        rendered.context,
        rendered.files,
        options,
        env=env,
        host_key=ssh_host_key,
        with_bundle=with_bundle,
    )
