"""Render the stack a tier runs: docker-compose, router config, cloud-init, and its .env."""

from __future__ import annotations

from hybridctl.render.bundle import RenderResult, render_bundle, render_files
from hybridctl.render.checks import CheckReport, check_bundle
from hybridctl.render.cloud_init import SshHostKey
from hybridctl.render.context import RenderContext, RenderOptions
from hybridctl.render.user_data import render_user_data

__all__ = [
    "CheckReport",
    "RenderContext",
    "RenderOptions",
    "RenderResult",
    "SshHostKey",
    "check_bundle",
    "render_bundle",
    "render_files",
    "render_user_data",
]
