"""Seed a box's models from local files: parse --model-file, check each against the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hybridctl.bench.download import sha256_of
from hybridctl.bench.ggufmeta import GGUF_MAGIC
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.errors import InputError, UsageError
from hybridctl.suggest import close_matches


@dataclass(frozen=True)
class ModelSeed:
    """A local file that stands in for one of the tier's model downloads."""

    model: str  # catalog id
    path: Path
    sha256: str
    verified: bool  # matches the catalog's sha256


def parse_model_files(values: list[str] | None) -> dict[str, Path]:
    """--model-file CATALOG_ID=PATH values as {id: path}."""
    seeds: dict[str, Path] = {}
    for value in values or []:
        model, sep, path = value.partition("=")
        if not sep or not model or not path:
            raise UsageError(
                f"--model-file {value!r} is not CATALOG_ID=PATH",
                hint="e.g. --model-file tinyllama-1.1b-chat-q4_k_m=./tinyllama.Q4_K_M.gguf",
            )
        if model in seeds:
            raise UsageError(f"--model-file names {model} twice", hint="Give each model once.")
        seeds[model] = Path(path).expanduser()
    return seeds


def _check_file(model: str, path: Path) -> None:
    if not path.exists():
        raise InputError(f"--model-file {model}={path}: no such file", hint="Check the path.")
    if not path.is_file():
        raise InputError(
            f"--model-file {model}={path} is not a regular file",
            hint="Pass the .gguf file itself.",
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise InputError(
            f"--model-file {model}={path} cannot be read: {exc.strerror}",
            hint="Check the file's permissions.",
        ) from None
    if magic != GGUF_MAGIC:
        raise InputError(
            f"--model-file {model}={path} is not a GGUF file", hint="Pass a .gguf model file."
        )


def check_seeds(
    catalog: Catalog, tier: Tier, files: dict[str, Path], *, allow_unverified: bool
) -> list[ModelSeed]:
    """Each file checked: a model of the tier, a GGUF, and the catalog's sha256 (or allowed)."""
    served = [entry.model for entry in tier.models]
    seeds = []
    for model, path in files.items():
        if model not in served:
            close = close_matches(model, served)
            raise UsageError(
                f"--model-file names {model!r}, which tier {tier.id} does not serve"
                + (f" (did you mean {close}?)" if close else ""),
                hint=f"Tier {tier.id} serves: {', '.join(served)}.",
            )
        _check_file(model, path)
        digest = sha256_of(path)
        expected = catalog.models[model].sha256
        verified = expected is not None and digest == expected.lower()
        if not verified and not allow_unverified:
            reason = (
                "the catalog has no sha256 for it"
                if expected is None
                else f"its sha256 {digest[:16]}... differs from the catalog's {expected[:16]}..."
            )
            raise InputError(
                f"--model-file {model}={path}: {reason}",
                hint="Use the file the catalog names, or pass --allow-unverified to serve it "
                "anyway (a warning names it).",
            )
        seeds.append(ModelSeed(model, path.resolve(), digest, verified))
    return seeds
