"""The speed model (pure): roofline x efficiency, slot gain, provenance, calibration records."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.catalog.calibration_records import insert_efficiency, set_tier_tuning
from hybridctl.catalog.measurements import write_validated
from hybridctl.catalog.schema import Catalog, Measurement, SpeedEfficiency
from hybridctl.errors import InputError
from hybridctl.paths import default_catalog_path
from hybridctl.planning.calibration import fit_efficiencies
from hybridctl.planning.speed import (
    derive,
    predict,
    promise_checks,
    quant_family,
    slot_gain,
)

TINY = "tinyllama-1.1b-chat-q4_k_m"
TERNARY = "llama3-8b-1.58-tq2_0"


def efficiency(**extra: Any) -> SpeedEfficiency:
    fields: dict[str, Any] = {
        "quant_family": "Q4_K",
        "backend": "cpu",
        "generation": 0.5,
        "prompt_per_thread_b": 100.0,
        "parallel_gain": 1.5,
        "at_slots": 2,
        "bandwidth_gbs": 30.0,
        "threads": 2,
        "models": ["tinyllama"],
        "machine": "test CPU, 2 vCPU",
        "llama_cpp": "0.3.36",
        "date": "2026-11-29",
        "command": "hybridctl bench --tier 2 --update-catalog",
    }
    return SpeedEfficiency(**{**fields, **extra})


def with_efficiencies(*records: SpeedEfficiency) -> Catalog:
    catalog = load_catalog()
    return catalog.model_copy(update={"speed_efficiencies": list(records)})


@pytest.mark.parametrize(
    ("quant", "family"),
    [
        ("Q4_K_M", "Q4_K"),
        ("q4_k_s", "Q4_K"),
        ("Q5_K_M", "Q5_K"),
        ("TQ2_0", "TQ2_0"),
        ("Q8_0", "Q8_0"),
    ],
)
def test_k_quant_mixes_share_their_family(quant: str, family: str) -> None:
    assert quant_family(quant) == family


def test_slot_gain_goes_through_the_measured_point_and_stays_between_one_and_n() -> None:
    assert slot_gain(1.5, 2, 2) == pytest.approx(1.5)
    assert slot_gain(1.5, 2, 1) == 1.0
    four = slot_gain(1.5, 2, 4)
    assert 1.5 < four < 4
    # no gain measured (1.0): every slot count gives 1.0; a perfect gain scales with n
    assert slot_gain(1.0, 2, 8) == pytest.approx(1.0)
    assert slot_gain(2.0, 2, 8) == pytest.approx(8.0)


def test_derive_is_roofline_times_efficiency_and_prompt_per_thread() -> None:
    shape = {"bytes_per_token": 1e9, "parameters_b": 2.0, "bandwidth_gbs": 30, "slots": 2}
    derived = derive(efficiency(), threads=2, **shape)  # type: ignore[arg-type]
    assert derived.roofline == pytest.approx(30.0)
    assert derived.generation == pytest.approx(15.0)
    assert derived.prompt == pytest.approx(100 * 2 / 2)
    assert derived.aggregate == pytest.approx(15.0 * 1.5)
    # the gain was measured on 2 threads: on 4 it is not assumed, the prompt scales per thread
    wider = derive(efficiency(), threads=4, **shape)  # type: ignore[arg-type]
    assert wider.prompt == pytest.approx(100 * 4 / 2)
    assert wider.aggregate == pytest.approx(wider.generation)


def test_without_an_efficiency_the_figure_is_the_documents_claim() -> None:
    catalog = with_efficiencies()
    prediction = predict(catalog, "2", TINY)
    entry = next(e for e in catalog.tier("2").models if e.model == TINY)
    assert prediction.source == "claimed"
    assert prediction.generation_tokens_per_s == entry.promised_tokens_per_s
    assert prediction.aggregate_tokens_per_s == prediction.generation_tokens_per_s
    assert "claimed" in prediction.detail


def test_a_recorded_efficiency_derives_the_figure_for_its_family_only() -> None:
    catalog = with_efficiencies(efficiency())
    tier = catalog.tier("2")
    model = catalog.models[TINY]
    prediction = predict(catalog, "2", TINY)
    assert prediction.source == "derived"
    roofline = tier.memory_bandwidth_gbs * 1e9 / (model.file_size_mb * 1e6)
    assert prediction.generation_tokens_per_s == pytest.approx(0.5 * roofline)
    assert prediction.threads == 2  # tier 2's cheapest offer (cx23) has 2 vCPUs
    assert prediction.prompt_tokens_per_s == pytest.approx(
        100 * 2 / model.architecture.parameters_b
    )
    assert prediction.parallel_gain == pytest.approx(1.5)  # measured on 2 threads
    assert prediction.gain_source == "measured"
    assert "Q4_K" in prediction.detail and "test CPU" in prediction.detail
    assert predict(catalog, "2.5", TERNARY).source == "claimed"  # TQ2_0 has no record


def test_the_latest_record_of_a_family_wins() -> None:
    old = efficiency(generation=0.2, date="2026-01-01")
    new = efficiency(generation=0.6, date="2026-11-29")
    catalog = with_efficiencies(new, old)
    assert predict(catalog, "2", TINY).generation_tokens_per_s == pytest.approx(
        predict(with_efficiencies(new), "2", TINY).generation_tokens_per_s
    )


def test_cuda_tiers_do_not_borrow_a_cpu_efficiency() -> None:
    catalog = with_efficiencies(efficiency())
    assert predict(catalog, "4", "mistral-7b-instruct-v0.2-q4_k_m").source == "claimed"


def test_a_measurement_on_the_tier_beats_the_derivation() -> None:
    catalog = with_efficiencies(efficiency())
    model = catalog.models[TINY]
    measured = Measurement(
        tokens_per_s=21.0,
        prompt_tokens_per_s=90.0,
        machine="box",
        llama_cpp="0.3.36",
        date="2026-11-29",
        tier="2",
        aggregate_tokens_per_s=33.0,
        parallel_slots=2,
    )
    models = {**catalog.models, TINY: model.model_copy(update={"measurements": [measured]})}
    catalog = catalog.model_copy(update={"models": models})
    prediction = predict(catalog, "2", TINY)
    assert prediction.source == "measured"
    assert (prediction.generation_tokens_per_s, prediction.prompt_tokens_per_s) == (21.0, 90.0)
    assert prediction.aggregate_tokens_per_s == 33.0
    assert predict(catalog, "3", TINY).source == "derived"  # measured on tier 2, not 3


def test_promises_far_from_the_derivation_are_flagged() -> None:
    catalog = with_efficiencies(efficiency(generation=1.5))
    findings = promise_checks(catalog)
    assert any("tier 1" in f and TINY in f for f in findings)
    assert promise_checks(with_efficiencies()) == []  # nothing derived, nothing to check


def bench_result(bandwidth: bool = True) -> dict[str, Any]:
    row = {
        "name": "tiny-q4",
        "status": "ok",
        "quantization": "Q4_K_M",
        "threads": 2,
        "model_bytes": 600_000_000,
        "model_params": 1_100_000_000,
        "generation": {"tokens_per_s": {"mean": 25.0}},
        "prompt": {"tokens_per_s": {"mean": 200.0}},
        "parallel": {"slots": 2, "tokens_per_s": {"mean": 40.0}},
    }
    return {
        "settings": {"threads": 2, "tier": None},
        "bandwidth": {"by_threads": {"2": {"bytes_per_s": 30e9}}} if bandwidth else None,
        "llama_cpp": {"llama_cpp_python": "0.3.36"},
        "rows": [row, {"name": "broken", "status": "crashed"}],
    }


def test_fit_turns_a_bench_row_into_its_familys_efficiency() -> None:
    records, skipped = fit_efficiencies(
        bench_result(), machine="m", command="hybridctl bench", today="2026-11-29"
    )
    (record,) = records
    assert record.quant_family == "Q4_K"
    assert record.generation == pytest.approx(25 * 0.6e9 / 30e9)
    assert record.prompt_per_thread_b == pytest.approx(200 * 1.1 / 2)
    assert (record.parallel_gain, record.at_slots) == (pytest.approx(1.6), 2)
    assert skipped == ["broken: no efficiency (crashed)"]
    none, why = fit_efficiencies(bench_result(bandwidth=False), machine="m", command="cmd")
    assert none == [] and "bandwidth" in why[0]


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    path = tmp_path / "tiers.yaml"
    shutil.copy(default_catalog_path(), path)
    return path


def test_recorded_efficiencies_load_and_the_next_prediction_uses_them(catalog_copy: Path) -> None:
    mistral = "mistral-7b-instruct-v0.2-q4_k_m"
    assert predict(load_catalog(catalog_copy), "4", mistral).source == "claimed"
    before = catalog_copy.read_text()
    cuda = efficiency(backend="cuda", generation=0.7, bandwidth_gbs=320.0)
    text = insert_efficiency(before, cuda.model_dump(mode="json"))
    text = insert_efficiency(text, efficiency(quant_family="Q8_0").model_dump(mode="json"))
    write_validated(catalog_copy, text)
    after = catalog_copy.read_text()
    assert after.startswith(before.rstrip("\n"))  # appended; the rest kept byte for byte
    catalog = load_catalog(catalog_copy)
    assert catalog.speed_efficiencies[-2:] == [cuda, efficiency(quant_family="Q8_0")]
    prediction = predict(catalog, "4", mistral)  # the GPU tier now derives from the record
    assert prediction.source == "derived" and "cuda" in prediction.detail


def test_tuning_is_written_once_per_tier_and_replaced(catalog_copy: Path) -> None:
    fields = {
        "threads": 2,
        "batch_size": 512,
        "ubatch_size": 128,
        "flash_attn": True,
        "kv_cache_type": "f16",
        "repack": False,
        "parallel_slots": 2,
        "tokens_per_s": 30.0,
        "default_tokens_per_s": 25.0,
        "machine": "test",
        "date": "2026-11-29",
        "command": "hybridctl bench --tune",
    }
    text = set_tier_tuning(catalog_copy.read_text(), "2", fields)
    text = set_tier_tuning(text, "2", {**fields, "ubatch_size": 64})
    assert text.count("tuning:") == 1
    write_validated(catalog_copy, text)
    tuning = load_catalog(catalog_copy).tier("2").tuning
    assert tuning is not None and tuning.ubatch_size == 64
    with pytest.raises(InputError, match="tier '9'"):
        set_tier_tuning(text, "9", fields)


def test_sizing_follows_the_tuned_server_settings() -> None:
    from hybridctl.catalog.schema import ServerTuning
    from hybridctl.catalog.sizing import (
        compute_buffer_mib,
        kv_cache_mib,
        repacked_mib,
        tier_memory_budget,
    )

    catalog = load_catalog()
    tier = catalog.tier("2.5")
    model = catalog.models[TINY]
    # TinyLlama's CPU_REPACK buffer measured 455 MiB (llama.cpp 0.3.36)
    assert repacked_mib(model) == pytest.approx(455, abs=15)
    assert repacked_mib(catalog.models[TERNARY]) == 0  # TQ2_0 is not repacked
    tuning = ServerTuning(
        threads=2,
        batch_size=512,
        ubatch_size=128,
        kv_cache_type="q8_0",
        repack=True,
        parallel_slots=4,
        tokens_per_s=30,
        default_tokens_per_s=25,
        machine="m",
        date="2026-11-29",
        command="hybridctl bench --tune",
    )
    before = tier_memory_budget(catalog, tier).models_mib[TINY]
    after = tier_memory_budget(catalog, tier.model_copy(update={"tuning": tuning})).models_mib[TINY]
    arch = model.architecture
    kv_change = kv_cache_mib(arch, tier.context_tokens, 4, "q8_0") - kv_cache_mib(
        arch, tier.context_tokens, tier.parallel_slots
    )
    compute_change = compute_buffer_mib(arch, tier.context_tokens, 128) - compute_buffer_mib(
        arch, tier.context_tokens, tier.ubatch_size
    )
    assert after - before == pytest.approx(repacked_mib(model) + kv_change + compute_change)
    assert (
        predict(
            catalog.model_copy(update={"tiers": [tier.model_copy(update={"tuning": tuning})]}),
            "2.5",
            TINY,
        ).parallel_slots
        == 4
    )


def test_the_first_efficiency_creates_the_list_and_an_empty_list_is_extended() -> None:
    import yaml

    record = efficiency().model_dump(mode="json")
    created = yaml.safe_load(insert_efficiency("version: 1\n", record))
    assert created["speed_efficiencies"][0]["quant_family"] == "Q4_K"
    extended = yaml.safe_load(insert_efficiency("version: 1\nspeed_efficiencies: []\n", record))
    assert extended["speed_efficiencies"][0]["command"] == record["command"]
