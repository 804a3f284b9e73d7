"""cloud-init user data: a hardened Ubuntu host that writes the bundle and starts it at boot."""

from __future__ import annotations

import base64
import io
import lzma
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

import jinja2
from pydantic import Field

from hybridctl.render.context import (
    RenderContext,
    RenderOptions,
    validate_admin_cidr,
    validate_ssh_public_key,
)
from hybridctl.render.engine import make_environment, render_template
from hybridctl.stackfacts import ADMIN_USER

USER_DATA_TEMPLATE = "cloud-init/user-data.yaml.j2"
HOST_ENV_TEMPLATE = "cloud-init/host-env.sh.j2"
MODELS_DISK_TEMPLATE = "cloud-init/models-disk.sh.j2"
GPU_HOST_TEMPLATE = "cloud-init/gpu-host.sh.j2"
GPU_HOST_SCRIPT = "host/gpu.sh"  # in the pushed bundle; push runs it before the stack restarts
SCRIPT_SUFFIXES = (".sh",)


@dataclass(frozen=True)
class SshHostKey:
    """The server's ed25519 host key, generated before the server exists so it can be pinned."""

    private_openssh: str
    public_openssh: str

    def __repr__(self) -> str:  # never let the private half reach a log line
        return f"SshHostKey(public_openssh={self.public_openssh!r}, private_openssh=<hidden>)"


def bundle_archive(files: Mapping[str, str]) -> bytes:
    """The bundle as one tar.xz, byte-for-byte the same for the same files.

    One archive instead of one write_files entry per file keeps the user data under AWS's
    16 KB limit (xz: about 6% smaller than gzip here). Fixed owner, mode and mtime and sorted
    entries keep it stable; xz output has no timestamp.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755 if path.endswith(SCRIPT_SUFFIXES) else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)


def render_gpu_host(ctx: RenderContext) -> str:
    """The host script that installs (GPU tier) or removes (CPU tier) the NVIDIA stack."""
    return render_template(make_environment(), GPU_HOST_TEMPLATE, ctx)


class UserDataContext(RenderContext):
    """The render context plus what only the user data needs (the host key is a secret)."""

    admin_user: str
    admin_cidr: str
    admin_ssh_public_key: str
    host_key: SshHostKey | None = Field(repr=False)  # secrets: kept out of any repr or log
    bundle_archive_b64: str | None = Field(repr=False)  # None: the bundle comes over SSH
    bundle_paths: list[str]
    env_b64: str | None = Field(repr=False)
    host_env_script: str
    models_disk_script: str


def build_user_data(
    ctx: RenderContext,
    files: Mapping[str, str],
    options: RenderOptions,
    *,
    env: Mapping[str, str] | None,
    host_key: SshHostKey | None,
    jinja_env: jinja2.Environment | None = None,
    with_bundle: bool = True,
) -> str:
    """The #cloud-config text. Contains secrets only when env or host_key is given."""
    from hybridctl.render.envfile import format_env

    assert options.admin_cidr and options.ssh_public_key
    jinja = jinja_env or make_environment()
    bundle = {path: text for path, text in files.items() if path != "cloud-init.yaml"}
    user_data_ctx = UserDataContext(
        **dict(ctx),
        admin_user=ADMIN_USER,
        admin_cidr=validate_admin_cidr(options.admin_cidr),
        admin_ssh_public_key=validate_ssh_public_key(options.ssh_public_key),
        host_key=host_key,
        bundle_archive_b64=(
            base64.b64encode(bundle_archive(bundle)).decode() if with_bundle else None
        ),
        bundle_paths=sorted(bundle),
        env_b64=base64.b64encode(format_env(env).encode()).decode() if env else None,
        host_env_script=render_template(jinja, HOST_ENV_TEMPLATE, ctx),
        models_disk_script=render_template(jinja, MODELS_DISK_TEMPLATE, ctx),
    )
    return render_template(jinja, USER_DATA_TEMPLATE, user_data_ctx)
