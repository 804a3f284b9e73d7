"""Read a GGUF file's header, metadata and tensor table with the standard library only."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_STRING_BYTES = 1 << 24
MAX_ARRAY_ITEMS = 1 << 26

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

# llama.cpp's llama_ftype numbers (general.file_type) and their names
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}


class GGUFError(ValueError):
    """The file is not a readable GGUF file."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int


@dataclass
class GGUFInfo:
    """What the bench needs from a GGUF header."""

    path: Path
    version: int
    file_size: int
    data_offset: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def file_type(self) -> str | None:
        value = self.metadata.get("general.file_type")
        return None if value is None else FILE_TYPES.get(int(value), f"ftype {value}")

    @property
    def tensor_bytes(self) -> int:
        """Bytes of tensor data: everything after the header, tensor table and padding."""
        return max(0, self.file_size - self.data_offset)

    def summary(self) -> dict[str, Any]:
        keys = ("block_count", "embedding_length", "feed_forward_length", "context_length")
        return {
            "architecture": self.architecture,
            "name": self.metadata.get("general.name"),
            "file_type": self.file_type,
            "gguf_version": self.version,
            "tensors": len(self.tensors),
            "tensor_bytes": self.tensor_bytes,
            "vocab": _vocab_size(self),
            **{key: self.arch_value(key) for key in keys},
            "head_count": self.arch_value("attention.head_count"),
            "head_count_kv": self.arch_value("attention.head_count_kv"),
        }


def _vocab_size(info: GGUFInfo) -> int | None:
    value = info.arch_value("vocab_size")
    if value is not None:
        return int(value)
    tokens = info.metadata.get("tokenizer.ggml.tokens")
    return tokens if isinstance(tokens, int) else None


class _Reader:
    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size

    def take(self, count: int) -> bytes:
        data = self.stream.read(count)
        if len(data) != count:
            raise GGUFError(f"file ends early (wanted {count} bytes at {self.stream.tell()})")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.scalar("<Q")
        if length > MAX_STRING_BYTES:
            raise GGUFError(f"string of {length} bytes is implausible")
        return self.take(length).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.scalar("<Q")
        if length > MAX_STRING_BYTES:
            raise GGUFError(f"string of {length} bytes is implausible")
        self.stream.seek(length, 1)

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.scalar("<I")
            count = self.scalar("<Q")
            if count > MAX_ARRAY_ITEMS:
                raise GGUFError(f"array of {count} items is implausible")
            return self.array(item_type, count)
        raise GGUFError(f"unknown metadata value type {vtype}")

    def array(self, item_type: int, count: int) -> Any:
        """Short arrays are read; long ones (token lists) are skipped and stand for their length."""
        if count > 64:
            if item_type in _SCALARS:
                self.stream.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
            elif item_type == _STRING:
                for _ in range(count):
                    self.skip_string()
            else:
                for _ in range(count):
                    self.value(item_type)
            return count
        return [self.value(item_type) for _ in range(count)]


def read_gguf(path: Path | str) -> GGUFInfo:
    """Parse the header of `path`; raises GGUFError when it is not a well-formed GGUF file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            return _parse(path, stream, size)
    except OSError as exc:
        raise GGUFError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (struct.error, UnicodeDecodeError) as exc:
        raise GGUFError(f"{path} is not a well-formed GGUF file: {exc}") from exc


def _parse(path: Path, stream: BinaryIO, size: int) -> GGUFInfo:
    reader = _Reader(stream, size)
    magic = stream.read(4)
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{path} is not a GGUF file (starts with {magic!r}, not {GGUF_MAGIC!r})")
    version = reader.scalar("<I")
    if version not in (2, 3):
        raise GGUFError(f"{path}: unsupported GGUF version {version}")
    n_tensors = reader.scalar("<Q")
    n_kv = reader.scalar("<Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise GGUFError(f"{path}: implausible header ({n_tensors} tensors, {n_kv} keys)")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string()
        metadata[key] = reader.value(reader.scalar("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = reader.string()
        n_dims = reader.scalar("<I")
        if n_dims > 8:
            raise GGUFError(f"{path}: tensor {name} has {n_dims} dimensions")
        dims = tuple(reader.scalar("<Q") for _ in range(n_dims))
        tensors.append(TensorInfo(name, dims, reader.scalar("<I"), reader.scalar("<Q")))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
    data_offset = -(-stream.tell() // alignment) * alignment
    if data_offset > size and tensors:
        raise GGUFError(f"{path}: file ends before its tensor data")
    return GGUFInfo(path, version, size, data_offset, metadata, tensors)
