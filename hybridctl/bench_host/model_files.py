"""Local GGUF files given to `hybridctl bench --model`: parsed, checked for the magic, hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hybridctl.errors import InputError
from hybridctl.paths import not_a_file

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelFile:
    """A local GGUF file to bench, optionally standing in for a catalog model (ID=PATH)."""

    path: Path
    model_id: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ModelFile:
        model_id, sep, path_text = spec.partition("=")
        if not sep:
            model_id, path_text = "", spec
        path = Path(path_text).expanduser()
        problem = not_a_file(path)
        if problem:
            raise InputError(
                f"model file {path} {problem}",
                hint="Give a GGUF file with --model PATH (or --model CATALOG_ID=PATH to bench a "
                "local copy of a catalog model against its promises).",
            )
        return cls(path=path, model_id=model_id or None)


def check_gguf(path: Path) -> None:
    """Refuse a file that does not start with the GGUF magic (a key, a text file, a safetensors)."""
    try:
        with path.open("rb") as stream:
            magic = stream.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise InputError(f"model file {path} cannot be read: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise InputError(
            f"model file {path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})",
            hint="Give a llama.cpp GGUF model file with --model (e.g. model.Q4_K_M.gguf).",
        )


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_QUANT = re.compile(
    r"(?i)(?:^|[._-])((?:I?Q\d_[A-Z0-9_]+?|Q\d_\d|TQ\d_\d|F16|BF16|F32))(?:\.gguf)?$"
)


def quantization_from_name(file_name: str) -> str | None:
    """The quantization a GGUF file's name announces (model.Q4_K_M.gguf → Q4_K_M), if any."""
    match = _QUANT.search(file_name)
    return match.group(1).upper() if match else None
