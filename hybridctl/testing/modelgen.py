"""Write llama-architecture GGUF files with random weights and a real vocabulary, for testing."""

from __future__ import annotations

import itertools
import os
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""A ChatML-style chat template; llama-cpp-python renders it with Jinja."""

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>")
SPACE = "\u2581"  # SentencePiece's word-boundary marker

_COMMON_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part "
    "hello world model server token fast slow local cloud answer question please thank yes "
    "help code data test bench"
)
_COMMON_WORDS = tuple(_COMMON_TEXT.split())

_WEIGHT_STD = 0.02
_POOL_VALUES = 1 << 24  # 32 MiB of float16 random values, reused at random offsets
_CHUNK_VALUES = 1 << 22


@dataclass(frozen=True)
class ModelShape:
    """The architecture numbers of a llama-family decoder."""

    name: str
    layers: int
    embedding: int
    feed_forward: int
    heads: int
    kv_heads: int
    vocab: int
    context_max: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.embedding % self.heads:
            raise ValueError(f"embedding {self.embedding} is not a multiple of heads {self.heads}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        minimum = len(SPECIAL_TOKENS) + len(CHAT_TOKENS) + 256
        if self.vocab < minimum:
            raise ValueError(
                f"vocab {self.vocab} is below the {minimum} tokens the tokenizer needs"
            )

    @property
    def head_dim(self) -> int:
        return self.embedding // self.heads

    @property
    def kv_embedding(self) -> int:
        return self.head_dim * self.kv_heads

    def parameter_count(self) -> int:
        return sum(_elements(shape) for _, shape, _ in _tensor_plan(self))


TINY_SHAPE = ModelShape(
    name="tiny-test",
    layers=2,
    embedding=64,
    feed_forward=128,
    heads=4,
    kv_heads=2,
    vocab=512,
    context_max=2048,
)

SHAPES: dict[str, ModelShape] = {
    "tiny": TINY_SHAPE,
    "tinyllama-1.1b": ModelShape("TinyLlama-1.1B", 22, 2048, 5632, 32, 4, 32000, 2048),
    "llama-2-7b": ModelShape("Llama-2-7B", 32, 4096, 11008, 32, 32, 32000, 4096),
    "mistral-7b": ModelShape("Mistral-7B", 32, 4096, 14336, 32, 8, 32000, 32768, 1000000.0),
    "llama-3-8b": ModelShape("Llama-3-8B", 32, 4096, 14336, 32, 8, 128256, 8192, 500000.0),
    "llama-2-13b": ModelShape("Llama-2-13B", 40, 5120, 13824, 40, 40, 32000, 4096),
}
"""Built-in shapes; `scripts/make_model.py --catalog-model` reads others from the catalog."""

UNQUANTIZED = {"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16}


def quantization_types() -> list[str]:
    """Names accepted by `write_model` (F32, F16 and llama.cpp's quantized file types)."""
    names = [t.name.removeprefix("MOSTLY_") for t in gguf.LlamaFileType]
    return sorted(n for n in names if n not in {"ALL_F32", "GUESSED"})


def write_tiny_model(path: Path, *, seed: int = 0) -> Path:
    """Write a < 1 MB llama GGUF (F16 weights) that llama.cpp loads, tokenizes with, and runs."""
    return _write_unquantized(Path(path), TINY_SHAPE, "F16", seed)


def write_model(path: Path, shape: ModelShape, quantization: str, seed: int = 0) -> Path:
    """Write `shape` with random weights at `quantization` (F16, F32, Q4_K_M, Q8_0, TQ2_0, ...)."""
    path = Path(path)
    quant = quantization.upper()
    if quant in UNQUANTIZED:
        return _write_unquantized(path, shape, quant, seed)
    ftype = _llama_ftype(quant)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".f16.gguf", dir=path.parent)
    os.close(fd)
    source = Path(tmp_name)
    try:
        _write_unquantized(source, shape, "F16", seed)
        quantize(source, path, ftype)
    finally:
        source.unlink(missing_ok=True)
    return path


def quantize(source: Path, dest: Path, ftype: int, threads: int | None = None) -> Path:
    """Quantize a GGUF file with llama.cpp's `llama_model_quantize`."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = threads or os.cpu_count() or 1
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(dest).encode(), llama_cpp.byref(params)
    )
    if status != 0:
        dest.unlink(missing_ok=True)
        raise RuntimeError(f"llama_model_quantize({source} -> {dest}) returned {status}")
    return dest


def _llama_ftype(quant: str) -> int:
    try:
        return int(gguf.LlamaFileType[f"MOSTLY_{quant}"])
    except KeyError:
        known = ", ".join(quantization_types())
        raise ValueError(f"unknown quantization {quant!r}; known: {known}") from None


def vocabulary(size: int) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary: specials, 256 byte tokens, then word pieces by rank."""
    tokens = list(SPECIAL_TOKENS)
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += CHAT_TOKENS
    types += [gguf.TokenType.CONTROL] * len(CHAT_TOKENS)
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    scores = [0.0] * len(tokens)
    seen = set(tokens)
    for rank, piece in enumerate(_word_pieces()):
        if len(tokens) >= size:
            break
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(gguf.TokenType.NORMAL)
        scores.append(-float(rank))
    return tokens, scores, [int(t) for t in types]


def _word_pieces() -> Iterator[str]:
    chars = string.ascii_lowercase + string.ascii_uppercase + string.digits + string.punctuation
    yield SPACE
    yield from chars
    yield from (SPACE + c for c in chars)
    for word in _COMMON_WORDS:  # SentencePiece merges pairs, so every prefix must be a piece
        yield from (SPACE + word[:k] for k in range(1, len(word) + 1))
        yield from (word[:k] for k in range(2, len(word) + 1))
    lower = string.ascii_lowercase
    for n in itertools.count(2):
        for combo in itertools.product(lower, repeat=n):
            piece = "".join(combo)
            yield piece
            yield SPACE + piece


def _tensor_plan(shape: ModelShape) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, numpy shape, kind) in llama.cpp's order; numpy shapes are ggml's reversed."""
    e, f, kv, v = shape.embedding, shape.feed_forward, shape.kv_embedding, shape.vocab
    plan: list[tuple[str, tuple[int, ...], str]] = [("token_embd.weight", (v, e), "matrix")]
    for i in range(shape.layers):
        plan += [
            (f"blk.{i}.attn_norm.weight", (e,), "norm"),
            (f"blk.{i}.attn_q.weight", (e, e), "matrix"),
            (f"blk.{i}.attn_k.weight", (kv, e), "matrix"),
            (f"blk.{i}.attn_v.weight", (kv, e), "matrix"),
            (f"blk.{i}.attn_output.weight", (e, e), "matrix"),
            (f"blk.{i}.ffn_norm.weight", (e,), "norm"),
            (f"blk.{i}.ffn_gate.weight", (f, e), "matrix"),
            (f"blk.{i}.ffn_up.weight", (f, e), "matrix"),
            (f"blk.{i}.ffn_down.weight", (e, f), "matrix"),
        ]
    plan += [("output_norm.weight", (e,), "norm"), ("output.weight", (v, e), "matrix")]
    return plan


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _add_metadata(writer: gguf.GGUFWriter, shape: ModelShape, file_type: int) -> None:
    writer.add_name(shape.name + "-random")
    writer.add_description("random weights from hybridctl.testing.modelgen, for speed tests")
    writer.add_file_type(file_type)
    writer.add_context_length(shape.context_max)
    writer.add_embedding_length(shape.embedding)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.feed_forward)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.norm_eps)
    writer.add_vocab_size(shape.vocab)
    tokens, scores, types = vocabulary(shape.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)


def _write_unquantized(path: Path, shape: ModelShape, quant: str, seed: int) -> Path:
    """Stream the tensors to disk chunk by chunk, so a 7B shape needs little RAM."""
    dtype = np.float16 if quant == "F16" else np.float32
    plan = _tensor_plan(shape)
    rng = np.random.default_rng(seed)
    largest = max(_elements(s) for _, s, _ in plan)
    pool = (rng.standard_normal(min(_POOL_VALUES, largest), dtype=np.float32) * _WEIGHT_STD).astype(
        dtype
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, "llama")
    try:
        _add_metadata(writer, shape, int(UNQUANTIZED[quant]))
        for name, tshape, kind in plan:
            tdtype = np.float32 if kind == "norm" else dtype
            nbytes = _elements(tshape) * np.dtype(tdtype).itemsize
            writer.add_tensor_info(name, tshape, np.dtype(tdtype), nbytes)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        assert writer.fout is not None
        out = writer.fout[0]
        for _name, tshape, kind in plan:
            writer.write_padding(out, out.tell())
            count = _elements(tshape)
            if kind == "norm":
                np.ones(count, dtype=np.float32).tofile(out)
                nbytes = count * 4
            else:
                for chunk in _random_chunks(rng, pool, count):
                    chunk.tofile(out)
                nbytes = count * pool.itemsize
            writer.write_padding(out, nbytes)
        writer.flush()
    finally:
        writer.close()
    return path


def _random_chunks(rng: np.random.Generator, pool: np.ndarray, count: int) -> Iterator[np.ndarray]:
    remaining = count
    while remaining > 0:
        start = int(rng.integers(pool.size))
        take = min(remaining, pool.size - start, _CHUNK_VALUES)
        yield pool[start : start + take]
        remaining -= take
