"""The bench's memory estimate against the measured peak, repacking on and off (real llama.cpp)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybridctl.bench.footprint import compute_buffer_bytes
from hybridctl.bench.planfile import parse_plan
from hybridctl.bench.runner import bench_model

pytest.importorskip("llama_cpp")

# A small llama whose vocabulary and widths are a real model's proportions: the logits of a
# 32,000-token vocabulary dominate the compute buffer, as they do for TinyLlama.
SHAPE_ARGS = ("mini-llama", 4, 512, 1536, 8, 4, 32000, 2048)


@pytest.fixture(scope="module")
def q4_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import ModelShape, write_model

    path = tmp_path_factory.mktemp("mem") / "mini-q4_k_m.gguf"
    return write_model(path, ModelShape(*SHAPE_ARGS), "Q4_K_M")


def bench(path: Path, repack: bool) -> dict[str, Any]:
    plan = parse_plan(
        {
            "models": [{"name": "mini", "path": str(path)}],
            "repetitions": 1,
            "prompt_tokens": 256,
            "gen_tokens": 4,
            "threads": 1,
            "ubatch_size": 256,
            "measure_bandwidth": False,
            "repack": repack,
        }
    )
    row = bench_model(plan.models[0], plan, 1, None)
    assert row["status"] == "ok", row.get("error")
    return row


def test_compute_buffer_matches_llama_cpps_reserve_for_tinyllama() -> None:
    # llama.cpp 0.3.36 logged "CPU compute buffer size = 70.50 MiB" (flash attention auto) and
    # 87.01 MiB (off, 1024 cells per slot) for TinyLlama at n_ubatch 512.
    tiny = {"vocab": 32000, "embedding": 2048, "feed_forward": 5632, "heads": 32, "ubatch": 512}
    on = compute_buffer_bytes(**tiny, context_per_slot=1024, flash_attn=True)
    off = compute_buffer_bytes(**tiny, context_per_slot=1024, flash_attn=False)
    assert on / 2**20 == pytest.approx(70.50, abs=0.01)
    assert off / 2**20 == pytest.approx(87.01, abs=0.05)


def test_estimate_is_within_100_mib_of_the_peak_with_and_without_repacking(
    q4_model: Path,
) -> None:
    rows = {repack: bench(q4_model, repack) for repack in (False, True)}
    for repack, row in rows.items():
        memory = row["memory"]
        assert abs(memory["estimate_error_mib"]) < 100, (repack, memory)
        assert row["repack"] is repack
    on, off = rows[True]["memory"], rows[False]["memory"]
    assert on["estimate_mib"]["repack_mib"] > 0 and off["estimate_mib"]["repack_mib"] == 0
    # the repacked copy is anonymous memory beside the mapped file
    grown = on["peak_rss_anon_mib"] - off["peak_rss_anon_mib"]
    assert grown == pytest.approx(on["estimate_mib"]["repack_mib"], abs=10)
