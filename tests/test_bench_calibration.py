"""`bench --update-catalog` records the speed model's efficiencies (real llama.cpp, tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.paths import default_catalog_path

pytest.importorskip("llama_cpp")

TINYLLAMA = "tinyllama-1.1b-chat-q4_k_m"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


def test_a_stand_in_file_calibrates_its_family_but_not_the_catalog_model(
    tiny_model: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "tiers.yaml"
    shutil.copy(default_catalog_path(), catalog)
    args = ["bench", "--tier", "2", "--model", f"{TINYLLAMA}={tiny_model}", "--threads", "1"]
    args += ["--repetitions", "2", "--prompt-tokens", "16", "--gen-tokens", "8"]
    result = CliRunner().invoke(app, [*args, "--update-catalog", "--catalog", str(catalog)])
    assert result.exit_code in (0, 1), result.output  # qwen2.5 has no local file: not measured
    assert "recorded the F16 efficiency" in result.stderr
    loaded = load_catalog(catalog)
    shipped = load_catalog(default_catalog_path()).speed_efficiencies
    assert loaded.speed_efficiencies[: len(shipped)] == shipped  # appended, the rest kept
    (record,) = loaded.speed_efficiencies[len(shipped) :]
    assert record.quant_family == "F16" and record.backend == "cpu"
    assert record.models == [TINYLLAMA] and record.threads == 1
    if record.parallel_gain is None:  # other work slowed the slots run: left out, and said so
        assert "is below 1" in result.stderr, result.stderr
    else:
        assert record.at_slots == loaded.tier("2").parallel_slots and record.parallel_gain >= 1
    assert record.command.startswith("hybridctl bench --tier 2 --model")
    assert not loaded.models[TINYLLAMA].measurements  # a stand-in is not the catalog's file


def test_the_bench_flags_figures_disturbed_by_other_work() -> None:
    from hybridctl.bench.runner import interference

    def figures(samples: list[float]) -> dict:
        return {"tokens_per_s": {"samples": samples}}

    quiet = {"generation": figures([20.0, 20.4, 20.2]), "load_average_before": [0.1, 0, 0]}
    assert interference(quiet) == []
    busy = {"generation": figures([12.0, 20.0]), "load_average_before": [9.0, 8, 7]}
    flags = interference(busy)
    assert flags[0] == "generation spread 50% (over 5%)"
    assert flags[1].startswith("load average 9.0")
