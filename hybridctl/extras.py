"""The optional extras ([deploy], [bench], [prices]): their packages, and the error when missing."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from dataclasses import dataclass

from hybridctl.errors import UsageError


@dataclass(frozen=True)
class Extra:
    """One optional extra of the hybridctl distribution."""

    name: str
    modules: tuple[str, ...]  # top-level modules it installs (the import names)
    needed_by: str  # what needs it, in the user's words


EXTRAS: dict[str, Extra] = {
    "deploy": Extra(
        "deploy",
        ("pulumi", "pulumi_hcloud", "pulumi_aws", "pulumi_gcp"),
        "`deploy` to hetzner, aws or gcp (`--plan` included), and `upgrade` or `destroy` of such "
        "a deployment",
    ),
    "bench": Extra(
        "bench",
        ("llama_cpp", "psutil"),
        "`bench` on this machine (`--tune` included; `--host`/`--deployment` run it on the box, "
        "`--serve` needs neither)",
    ),
    "prices": Extra(
        "prices",
        ("boto3",),
        "`prices refresh --provider aws` (AWS's Price List API; Hetzner's and GCP's prices need "
        "no extra)",
    ),
}

_BY_MODULE = {module: extra for extra in EXTRAS.values() for module in extra.modules}


class MissingExtra(UsageError):
    """A command needs an optional extra that is not installed (exit 2)."""

    def __init__(self, extra: Extra, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"this needs the [{extra.name}] extra, which is not installed "
            f"(no module named {module!r}); [{extra.name}] is for {extra.needed_by}",
            hint=f"Install it with: {install_command(extra.name)}",
        )


def install_command(extra: str) -> str:
    """The exact command that adds `extra` to the environment hybridctl runs in.

    pip keeps the installed hybridctl (from PyPI, a wheel or a checkout) and adds the extra's
    packages; the interpreter's own path picks the right environment (a venv, pipx's venv).
    """
    return pip_install(f"hybridctl[{extra}]")


def pip_install(*requirements: str) -> str:
    """The command that installs `requirements` into the environment this Python runs in."""
    words = [sys.executable, "-m", "pip", "install", *requirements]
    return " ".join(shlex.quote(word) for word in words)


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that cannot be imported here, or None when all can."""
    for module in EXTRAS[extra].modules:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require_extra(extra: str) -> None:
    """Raise MissingExtra when any module of `extra` is missing (checked without importing)."""
    module = missing_module(extra)
    if module is not None:
        raise MissingExtra(EXTRAS[extra], module)


def from_import_error(exc: BaseException) -> MissingExtra | None:
    """The MissingExtra behind an ImportError for one of the extras' modules, else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    root = exc.name.split(".", 1)[0]
    extra = _BY_MODULE.get(root)
    return MissingExtra(extra, root) if extra else None
