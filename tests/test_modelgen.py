"""Tests of the random-weight GGUF writer: the files load in llama.cpp, tokenize and generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
import pytest

from hybridctl.testing.modelgen import (
    SHAPES,
    TINY_SHAPE,
    ModelShape,
    vocabulary,
    write_model,
    write_tiny_model,
)

llama_cpp = pytest.importorskip("llama_cpp")
REPO = Path(__file__).resolve().parent.parent
MAKE_MODEL = [sys.executable, str(REPO / "scripts" / "make_model.py")]


def test_tiny_model_is_small_and_has_llama_metadata(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "tiny.gguf")
    assert path.stat().st_size < 1_000_000
    reader = gguf.GGUFReader(path)
    fields = reader.fields
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "llama"
    assert bytes(fields["tokenizer.ggml.model"].parts[-1]).decode() == "llama"
    assert "tokenizer.chat_template" in fields
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "blk.1.ffn_down.weight"} <= names
    assert len(reader.tensors) == 3 + 9 * TINY_SHAPE.layers


def test_tiny_model_tokenizes_generates_and_chats(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "tiny.gguf")
    llm = llama_cpp.Llama(str(path), n_ctx=256, verbose=False, seed=1)
    text = b"Hello world, the model server!"
    tokens = llm.tokenize(text)
    assert tokens[0] == 1  # BOS
    assert llm.detokenize(tokens[1:]).strip() == text
    assert 1 < len(tokens) < len(text) + 2
    out = llm("The answer is", max_tokens=6, temperature=0.0)
    assert out["usage"]["completion_tokens"] >= 1
    chat = llm.create_chat_completion(
        messages=[{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0
    )
    assert chat["choices"][0]["message"]["role"] == "assistant"
    # the chat template's markers are single control tokens
    im_start = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    assert len(im_start) == 1


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_tiny_model(tmp_path / "a.gguf", seed=3).read_bytes()
    b = write_tiny_model(tmp_path / "b.gguf", seed=3).read_bytes()
    c = write_tiny_model(tmp_path / "c.gguf", seed=4).read_bytes()
    assert a == b
    assert a != c


def test_quantize_tiny_to_q8_0(tmp_path: Path) -> None:
    path = write_model(tmp_path / "tiny-q8.gguf", TINY_SHAPE, "Q8_0")
    reader = gguf.GGUFReader(path)
    kinds = {t.name: t.tensor_type for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert kinds["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert not list(tmp_path.glob(".*f16.gguf"))  # the F16 intermediate is removed
    llm = llama_cpp.Llama(str(path), n_ctx=128, verbose=False)
    assert llm("Hi", max_tokens=3)["usage"]["completion_tokens"] >= 1


def test_unknown_quantization_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown quantization"):
        write_model(tmp_path / "x.gguf", TINY_SHAPE, "Q3_BOGUS")


def test_shapes_are_consistent() -> None:
    tiny_llama = SHAPES["tinyllama-1.1b"]
    assert 1.0e9 < tiny_llama.parameter_count() < 1.2e9
    assert 7.0e9 < SHAPES["mistral-7b"].parameter_count() < 7.5e9
    with pytest.raises(ValueError):
        ModelShape("bad", 1, 65, 128, 4, 2, 512)


def test_vocabulary_is_unique_with_byte_tokens() -> None:
    tokens, scores, types = vocabulary(32000)
    assert len(tokens) == len(set(tokens)) == len(scores) == len(types) == 32000
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert "<0x0A>" in tokens and "<0xFF>" in tokens


def test_make_model_cli(tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    result = subprocess.run(
        [*MAKE_MODEL, "--shape", "tiny", "--quant", "Q8_0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.exists() and "Q8_0" in result.stdout
    bad = subprocess.run(
        [*MAKE_MODEL, "--shape", "nope", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "tinyllama-1.1b" in bad.stderr


def test_shape_from_catalog_model() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_model", REPO / "scripts" / "make_model.py")
    assert spec is not None and spec.loader is not None
    make_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_model)
    shape, quant = make_model.shape_from_catalog("tinyllama-1.1b-chat-q4_k_m", None)
    assert quant == "Q4_K_M"
    assert shape == ModelShape(
        shape.name, 22, 2048, 5632, 32, 4, 32000, shape.context_max, shape.rope_theta
    )
    assert 1.0e9 < shape.parameter_count() < 1.2e9
    with pytest.raises(SystemExit, match="no model 'nope'"):
        make_model.shape_from_catalog("nope", None)
