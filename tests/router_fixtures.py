"""Shared helpers for the router tests: render the router and import the rendered hook module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hybridctl.catalog import load_catalog
from hybridctl.render.router import RouterContext, build_router_context, write_router


def rendered_router(dest: Path, tier: str = "2", context: RouterContext | None = None) -> Path:
    """Render the router files for `tier` (or `context`) into dest and return dest."""
    ctx = context or build_router_context(load_catalog(), tier, "hetzner")
    write_router(ctx, dest)
    return dest


def import_hook(router_dir: Path) -> ModuleType:
    """Import the rendered hybrid_router.py as its own module (as LiteLLM does, by file path)."""
    name = f"hybrid_router_{abs(hash(str(router_dir)))}"
    spec = importlib.util.spec_from_file_location(name, router_dir / "hybrid_router.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
