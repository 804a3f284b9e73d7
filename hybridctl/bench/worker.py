"""The child process: load one model with llama.cpp's C API and time prompt and generation.

Timed the llama-bench way: a warm-up, then N repetitions of a prompt of random tokens
(decoded in batches) and of single-token generation steps from an empty context, the KV cache
cleared between repetitions. Speeds come from llama.cpp's own counters (llama_perf_context:
t_p_eval_ms and t_eval_ms), so tokenization and sampling are excluded: there is none.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from . import defaults
from .memory import PeakSampler

FAULT_ENV = "HYBRIDCTL_BENCH_FAULT"
"""Fault injection for tests: 'segv-when-repacking' makes the child segfault (a real SIGSEGV)
right after loading a model with repacking on, as llama.cpp's AMX repacking did on some VMs;
'segv' makes it segfault on every attempt."""

_LOG_SINK = None  # keeps the ctypes log callback alive


class WorkerError(Exception):
    """llama.cpp refused the model or a decode failed."""


def _log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def _silence_llama(llama_cpp: Any) -> None:
    global _LOG_SINK

    @llama_cpp.llama_log_callback
    def sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        pass

    _LOG_SINK = sink
    llama_cpp.llama_log_set(sink, ctypes.c_void_p())


def _decode(llama_cpp: Any, ctx: Any, tokens: list[int]) -> None:
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    status = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(tokens)))
    if status != 0:
        raise WorkerError(f"llama_decode returned {status}")
    # llama.cpp adds a decode to its perf counters when the context synchronizes (as llama-bench)
    llama_cpp.llama_synchronize(ctx)


def _counters(llama_cpp: Any, ctx: Any) -> tuple[int, float]:
    data = llama_cpp.llama_perf_context(ctx)
    if data.t_p_eval_ms + data.t_eval_ms <= 0:
        raise WorkerError("llama.cpp's perf counters read zero (built with no perf timing?)")
    return data.n_p_eval + data.n_eval, data.t_p_eval_ms + data.t_eval_ms


def _prompt_run(llama_cpp: Any, ctx: Any, tokens: list[int], batch: int) -> tuple[int, float]:
    for start in range(0, len(tokens), batch):
        _decode(llama_cpp, ctx, tokens[start : start + batch])
    return _counters(llama_cpp, ctx)


def _generation_run(
    llama_cpp: Any, ctx: Any, first: int, count: int, rng: random.Random, n_vocab: int
) -> tuple[int, float]:
    token = first
    for _ in range(count):
        _decode(llama_cpp, ctx, [token])
        token = rng.randrange(n_vocab)
    return _counters(llama_cpp, ctx)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Load spec['path'] and time it; returns the measured figures (raises WorkerError)."""
    import llama_cpp

    if not spec.get("verbose"):
        _silence_llama(llama_cpp)
    llama_cpp.llama_backend_init()
    result: dict[str, Any] = {"repack": spec["repack"]}
    with PeakSampler() as sampler:
        model_params = llama_cpp.llama_model_default_params()
        model_params.use_extra_bufts = bool(spec["repack"])
        started = time.perf_counter()
        model = llama_cpp.llama_model_load_from_file(spec["path"].encode(), model_params)
        if not model:
            raise WorkerError("llama.cpp could not load the model (llama_model_load_from_file)")
        fault = os.environ.get(FAULT_ENV)
        if fault == "segv" or (fault == "segv-when-repacking" and spec["repack"]):
            _log("fault injection: segfaulting now")
            ctypes.string_at(0)
        ctx_params = llama_cpp.llama_context_default_params()
        slots = int(spec.get("parallel_slots") or defaults.PARALLEL_SLOTS)
        ctx_params.n_ctx = spec["context_tokens"] * slots
        ctx_params.n_seq_max = slots
        _apply_tunables(llama_cpp, ctx_params, spec)
        ctx_params.n_batch = spec["batch_size"]
        ctx_params.n_ubatch = spec["ubatch_size"]
        ctx_params.n_threads = spec["threads"]
        ctx_params.n_threads_batch = spec["threads"]
        ctx_params.no_perf = False
        ctx = llama_cpp.llama_init_from_model(model, ctx_params)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise WorkerError("llama.cpp could not create a context (llama_init_from_model)")
        result["load_s"] = round(time.perf_counter() - started, 3)
        _log(f"loaded in {result['load_s']:.2f} s")
        try:
            result.update(_measure(llama_cpp, model, ctx, spec))
        finally:
            llama_cpp.llama_free(ctx)
            llama_cpp.llama_model_free(model)
    result["memory"] = sampler.result()
    return result


_KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0", "q4_0": "GGML_TYPE_Q4_0"}


def _apply_tunables(llama_cpp: Any, ctx_params: Any, spec: dict[str, Any]) -> None:
    """Flash attention (None: llama.cpp's auto) and the KV cache type, as the server sets them."""
    flash = spec.get("flash_attn")
    if flash is not None:
        on, off = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED, llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx_params.flash_attn_type = on if flash else off
    kv_type = spec.get("kv_type") or defaults.KV_TYPE
    ctx_params.type_k = ctx_params.type_v = getattr(llama_cpp, _KV_TYPES[kv_type])


def _parallel_run(
    llama_cpp: Any, ctx: Any, slots: int, steps: int, rng: random.Random, n_vocab: int
) -> tuple[int, float]:
    """`steps` decode steps of `slots` sequences at once, as a server with parallel slots does."""
    batch = llama_cpp.llama_batch_init(slots, 0, 1)
    try:
        for step in range(steps):
            batch.n_tokens = slots
            for seq in range(slots):
                batch.token[seq] = rng.randrange(n_vocab)
                batch.pos[seq] = step
                batch.n_seq_id[seq] = 1
                batch.seq_id[seq][0] = seq
                batch.logits[seq] = 1
            status = llama_cpp.llama_decode(ctx, batch)
            if status != 0:
                raise WorkerError(f"llama_decode returned {status} with {slots} sequences")
            llama_cpp.llama_synchronize(ctx)
    finally:
        llama_cpp.llama_batch_free(batch)
    return _counters(llama_cpp, ctx)


def _measure(llama_cpp: Any, model: Any, ctx: Any, spec: dict[str, Any]) -> dict[str, Any]:
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    bos = llama_cpp.llama_vocab_bos(vocab) if llama_cpp.llama_vocab_get_add_bos(vocab) else 0
    rng = random.Random(1234)
    memory = llama_cpp.llama_get_memory(ctx)
    n_prompt, n_gen, reps = spec["prompt_tokens"], spec["gen_tokens"], spec["repetitions"]
    slots = int(spec.get("parallel_slots") or defaults.PARALLEL_SLOTS)

    def prompt_tokens() -> list[int]:
        return [bos] + [rng.randrange(n_vocab) for _ in range(n_prompt - 1)]

    # warm-up, as llama-bench does: one prompt run and one generated token
    if n_prompt:
        llama_cpp.llama_memory_clear(memory, True)
        _prompt_run(llama_cpp, ctx, prompt_tokens(), spec["batch_size"])
    llama_cpp.llama_memory_clear(memory, True)
    _generation_run(llama_cpp, ctx, bos, 1, rng, n_vocab)
    if slots > 1:
        llama_cpp.llama_memory_clear(memory, True)
        _parallel_run(llama_cpp, ctx, slots, 1, rng, n_vocab)

    samples: dict[str, list[dict[str, float]]] = {"prompt": [], "generation": [], "parallel": []}
    for rep in range(reps):
        if n_prompt:
            llama_cpp.llama_memory_clear(memory, True)
            llama_cpp.llama_perf_context_reset(ctx)
            wall = time.perf_counter()
            tokens, ms = _prompt_run(llama_cpp, ctx, prompt_tokens(), spec["batch_size"])
            wall = time.perf_counter() - wall
            samples["prompt"].append({"tokens": tokens, "ms": ms, "wall_s": wall})
            _log(f"prompt     {rep + 1}/{reps}: {tokens / ms * 1000:8.2f} tokens/s")
        llama_cpp.llama_memory_clear(memory, True)
        llama_cpp.llama_perf_context_reset(ctx)
        wall = time.perf_counter()
        tokens, ms = _generation_run(llama_cpp, ctx, bos, n_gen, rng, n_vocab)
        wall = time.perf_counter() - wall
        samples["generation"].append({"tokens": tokens, "ms": ms, "wall_s": wall})
        _log(f"generation {rep + 1}/{reps}: {tokens / ms * 1000:8.2f} tokens/s")
        if slots > 1:
            llama_cpp.llama_memory_clear(memory, True)
            llama_cpp.llama_perf_context_reset(ctx)
            wall = time.perf_counter()
            tokens, ms = _parallel_run(llama_cpp, ctx, slots, n_gen, rng, n_vocab)
            wall = time.perf_counter() - wall
            samples["parallel"].append({"tokens": tokens, "ms": ms, "wall_s": wall})
            _log(f"{slots} slots   {rep + 1}/{reps}: {tokens / ms * 1000:8.2f} tokens/s in all")
    return {
        "samples": samples,
        "model_bytes": int(llama_cpp.llama_model_size(model)),
        "model_params": int(llama_cpp.llama_model_n_params(model)),
        "model_desc": _model_desc(llama_cpp, model),
        "n_vocab": n_vocab,
    }


def _model_desc(llama_cpp: Any, model: Any) -> str:
    buffer = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(model, buffer, len(buffer))
    return buffer.value.decode(errors="replace")


def main(spec_path: str, result_path: str) -> int:
    """Entry point of `bench child SPEC RESULT`: exit 0 with a result file, 3 on a known error."""
    spec = json.loads(Path(spec_path).read_text())
    try:
        payload: dict[str, Any] = {"ok": True, **run(spec)}
        code = 0
    except WorkerError as exc:
        payload, code = {"ok": False, "error": str(exc)}, 3
    except Exception as exc:  # reported in the row; the parent stays alive either way
        payload, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 3
    Path(result_path).write_text(json.dumps(payload))
    return code
