"""The standalone bench run end to end on a generated tiny model, in real child processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf
import pytest

from hybridctl.testing.modelgen import write_tiny_model
from tests.bench_core_fixtures import FAST, bench_env, run_bench

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf")


def model(path: Path, name: str = "tiny", **fields: object) -> dict[str, object]:
    return {"name": name, "path": str(path), "quantization": "F16", **fields}


def test_run_result_shape_and_passing_verdict(tmp_path: Path, tiny: Path) -> None:
    plan = {
        **FAST,
        "measure_bandwidth": True,
        "tier": "1",
        "models": [model(tiny, promised_tokens_per_s=1.0, memory_budget_mib=4096)],
    }
    proc, result = run_bench(tmp_path, plan)
    assert proc.returncode == 0, proc.stderr
    assert result is not None
    assert result["schema"] == "hybridctl-bench/1"
    assert result["verdict"] == {"ok": True, "shortfalls": []}
    assert result["settings"]["tier"] == "1" and result["settings"]["repetitions"] == 2
    assert result["machine"]["logical_cpus"] >= 1 and result["machine"]["ram_total_mib"] > 0
    assert result["llama_cpp"]["llama_cpp_python"] and "CPU" in result["llama_cpp"]["system_info"]
    assert "tokenization and sampling" in result["not_measured"][0]
    assert set(result["bandwidth"]["by_threads"]) >= {"1"}
    (row,) = result["rows"]
    assert row["status"] == "ok" and row["repack"] is True
    assert row["gguf"]["architecture"] == "llama" and row["quantization"] == "F16"
    for phase, tokens in (("prompt", 32), ("generation", 8)):
        figure = row[phase]["tokens_per_s"]
        assert row[phase]["tokens"] == tokens
        assert figure["mean"] > 0 and figure["stddev"] >= 0 and len(figure["samples"]) == 2
    memory = row["memory"]
    assert memory["before"]["available_mib"] > 0
    assert memory["estimate_mib"]["total_mib"] > memory["estimate_mib"]["weights_mib"] > 0
    assert memory["peak_rss_mib"] >= memory["peak_rss_file_mib"] > 0
    assert row["load_s"] >= 0 and row["model_bytes"] > 0
    assert row["roofline"]["fraction"] > 0
    assert row["verdict"]["ok"] and row["verdict"]["gap_tokens_per_s"] > 0
    assert "tg" in proc.stderr and "verdict: every promise holds" in proc.stderr


def test_promise_too_high_exits_1_with_gap(tmp_path: Path, tiny: Path) -> None:
    plan = {**FAST, "models": [model(tiny, promised_tokens_per_s=1e12)]}
    proc, result = run_bench(tmp_path, plan)
    assert proc.returncode == 1, proc.stderr
    assert result is not None and result["verdict"]["ok"] is False
    (shortfall,) = result["verdict"]["shortfalls"]
    assert "below the promised 1e+12" in shortfall and "gap" in shortfall
    assert result["rows"][0]["verdict"]["gap_tokens_per_s"] < 0


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"models": []}', "non-empty 'models'"),
        ('{"models": [{"name": "x"}]}', "needs a path or a uri"),
        ('{"models": [{"name": "x", "path": "/m"}], "repetitions": 0}', "at least 1"),
        ('{"models": [{"name": "x", "path": "/m", "promised_tokens_per_s": "fast"}]}', "number"),
    ],
)
def test_bad_plan_exits_2(tmp_path: Path, plan: str, message: str) -> None:
    proc, result = run_bench(tmp_path, plan)
    assert proc.returncode == 2
    assert "bad plan" in proc.stderr and message in proc.stderr
    assert result is None


def test_refuses_a_model_over_its_budget_without_loading(tmp_path: Path, tiny: Path) -> None:
    # The budget is compared with the model's own memory (the estimate less the interpreter).
    plan = {**FAST, "models": [model(tiny, memory_budget_mib=0.25)]}
    proc, result = run_bench(tmp_path, plan)
    assert proc.returncode == 1
    assert result is not None
    (row,) = result["rows"]
    assert row["status"] == "refused"
    assert "exceeds the memory budget 0.25 MiB" in row["error"]
    assert "attempts" not in row and "load_s" not in row  # no child, no load
    assert row["memory"]["estimate_mib"]["total_mib"] > 8


def test_refuses_a_model_larger_than_available_memory(tmp_path: Path) -> None:
    # a header-only GGUF claiming a huge architecture: its KV cache alone cannot fit
    path = tmp_path / "huge.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(1_000_000)
    writer.add_embedding_length(8192)
    writer.add_head_count(64)
    writer.add_head_count_kv(64)
    writer.add_context_length(4096)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    proc, result = run_bench(tmp_path, {**FAST, "models": [model(path, "huge")]})
    assert proc.returncode == 1
    assert result is not None
    row = result["rows"][0]
    assert row["status"] == "refused" and "MiB available" in row["error"]


def test_corrupt_and_truncated_files_are_reported(tmp_path: Path, tiny: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"this is not a model" * 100)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny.read_bytes()[: tiny.stat().st_size // 2])
    missing = tmp_path / "missing.gguf"
    plan = {
        **FAST,
        "models": [
            model(garbage, "garbage"),
            model(truncated, "truncated"),
            model(missing, "missing"),
            model(tiny, "good", promised_tokens_per_s=1.0),
        ],
    }
    proc, result = run_bench(tmp_path, plan)
    assert proc.returncode == 1
    assert result is not None
    rows = {row["name"]: row for row in result["rows"]}
    assert rows["garbage"]["status"] == "error" and "not a GGUF file" in rows["garbage"]["error"]
    # the header parses, so a child tries and llama.cpp itself refuses the file
    assert rows["truncated"]["status"] == "error"
    assert "could not load" in rows["truncated"]["error"]
    assert rows["missing"]["status"] == "error" and "does not exist" in rows["missing"]["error"]
    assert rows["good"]["status"] == "ok"  # the run went on after the failures
    assert len(result["verdict"]["shortfalls"]) == 3


def test_child_crash_is_reported_and_retried_without_repacking(tmp_path: Path, tiny: Path) -> None:
    plan = {**FAST, "models": [model(tiny, promised_tokens_per_s=1.0)]}
    env = bench_env(HYBRIDCTL_BENCH_FAULT="segv-when-repacking")
    proc, result = run_bench(tmp_path, plan, env=env)
    assert proc.returncode == 0, proc.stderr
    assert result is not None
    (row,) = result["rows"]
    first, second = row["attempts"]
    assert first["status"] == "crashed" and first["signal"] == "SIGSEGV" and first["repack"]
    assert second["status"] == "ok" and second["repack"] is False
    assert row["status"] == "ok" and row["repack"] is False
    assert "retrying once without weight repacking" in proc.stderr


def test_child_crashing_every_time_is_reported_and_the_cli_survives(
    tmp_path: Path, tiny: Path
) -> None:
    plan = {**FAST, "models": [model(tiny, "first"), model(tiny, "second")]}
    proc, result = run_bench(tmp_path, plan, env=bench_env(HYBRIDCTL_BENCH_FAULT="segv"))
    assert proc.returncode == 1
    assert result is not None
    for row in result["rows"]:
        assert row["status"] == "crashed" and row["signal"] == "SIGSEGV"
        assert [a["repack"] for a in row["attempts"]] == [True, False]  # retried exactly once
    assert "first: crashed: child killed by SIGSEGV" in result["verdict"]["shortfalls"][0]


def test_command_line_overrides_the_plan(tmp_path: Path, tiny: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copy(tiny, copy)
    proc, result = run_bench(
        tmp_path,
        {**FAST, "models": [model(copy)]},
        "--repetitions",
        "1",
        "--gen-tokens",
        "4",
        "--no-repack",
    )
    assert proc.returncode == 0, proc.stderr
    assert result is not None
    assert result["settings"]["repetitions"] == 1 and result["settings"]["repack"] is False
    (attempt,) = result["rows"][0]["attempts"]
    assert attempt["repack"] is False and result["rows"][0]["repack"] is False
    assert len(result["rows"][0]["generation"]["tokens_per_s"]["samples"]) == 1
