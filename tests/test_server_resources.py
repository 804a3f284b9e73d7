"""One definition of the model server's resources: the rendered box and the plan read the same."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridctl.bench.footprint import compute_buffer_bytes
from hybridctl.catalog import load_catalog
from hybridctl.catalog import resources as resources_module
from hybridctl.catalog.resources import deployed_offer, server_cores, server_resources
from hybridctl.catalog.schema import Source
from hybridctl.catalog.sizing import MIB, compute_buffer_mib, tier_memory_budget
from hybridctl.cli.app import app
from hybridctl.paths import default_catalog_path
from hybridctl.planning.capacity import tier_speeds
from hybridctl.planning.speed import efficiency_for, predict
from hybridctl.render import RenderOptions
from hybridctl.render.bundle import render_files

runner = CliRunner()
TINY = "tinyllama-1.1b-chat-q4_k_m"
QWEN = "qwen2.5-1.5b-instruct-q4_k_m"


def _rendered(tier_id: str, provider: str = "hetzner") -> tuple[dict[str, str], str]:
    """The model server's `[*]` settings and its compose CPU limit, as rendered."""
    options = RenderOptions(tier_id=tier_id, provider=provider)
    files = render_files(load_catalog(), options).files
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read_string("[top]\n" + files["llm/models.ini"])
    compose = yaml.safe_load(files["docker-compose.yml"])
    return dict(ini["*"]), compose["services"]["llm"]["deploy"]["resources"]["limits"]["cpus"]


def test_the_server_gets_the_deployed_offers_cores_not_the_tiers() -> None:
    catalog = load_catalog()
    tier = catalog.tier("2.5")  # the tier says 2 vCPUs; Hetzner's cx33 has 4, AWS's t3.large 2
    assert tier.vcpu == 2
    assert server_resources(tier, "hetzner").threads == 3  # a core kept for the services
    assert server_resources(tier, "aws").threads == 2
    settings, cpus = _rendered("2.5", "hetzner")
    assert settings["threads"] == settings["threads-batch"] == "3" and cpus == "3"
    settings, cpus = _rendered("2.5", "aws")
    assert settings["threads"] == settings["threads-batch"] == "2" and cpus == "2"
    # without a provider the plan prices the cheapest deployable offer, as `recommend` does
    assert deployed_offer(tier) == min(
        (o for o in tier.offers if not o.reference_only), key=lambda o: o.monthly_usd
    )


@pytest.mark.parametrize(("vcpu", "cores"), [(0.5, 1), (1, 1), (2, 2), (4, 3), (16, 12), (32, 24)])
def test_cores_are_whole_and_at_least_one(vcpu: float, cores: int) -> None:
    assert server_cores(vcpu) == cores


def test_changing_the_definition_moves_both_the_rendered_box_and_the_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = load_catalog()
    tier = catalog.tier("1")
    before_settings, before_cpus = _rendered("1")
    before_plan = predict(catalog, "1", TINY)
    before_speed = tier_speeds(catalog, tier)[TINY]
    assert before_settings["threads"] == "2" and before_cpus == "2"
    assert before_plan.threads == before_speed.threads == 2

    monkeypatch.setattr(resources_module, "server_cores", lambda vcpu: 1)
    after_settings, after_cpus = _rendered("1")
    after_plan = predict(catalog, "1", TINY)
    after_speed = tier_speeds(catalog, tier)[TINY]
    assert after_settings["threads"] == after_settings["threads-batch"] == "1"
    assert after_cpus == "1"
    assert after_plan.threads == after_speed.threads == 1
    assert after_plan.generation_tokens_per_s < before_plan.generation_tokens_per_s
    assert after_speed.generation_tokens_per_s == after_plan.generation_tokens_per_s


def test_slots_context_and_micro_batch_are_rendered_as_sized() -> None:
    catalog = load_catalog()
    tier = catalog.tier("2")
    resources = server_resources(tier)
    settings, _ = _rendered("2")
    assert int(settings["parallel"]) == resources.parallel_slots
    assert int(settings["ctx-size"]) == resources.context_tokens * resources.parallel_slots
    assert int(settings["ubatch-size"]) == resources.ubatch_size == tier.ubatch_size
    options = RenderOptions(tier_id="2", provider="hetzner")
    compose = yaml.safe_load(render_files(catalog, options).files["docker-compose.yml"])
    limit = compose["services"]["llm"]["deploy"]["resources"]["limits"]["memory"]
    assert limit == f"{round(tier_memory_budget(catalog, tier).models_total_mib + 0.5)}M"


def test_a_one_vcpu_prediction_is_compute_bound() -> None:
    catalog = load_catalog()
    # DigitalOcean's s-1vcpu-2gb (a 1-vCPU offer of tier 1): one core cannot reach the roofline
    one = predict(catalog, "1", TINY, provider="digitalocean")
    assert one.threads == 1
    assert one.bound == "compute" and "compute-bound" in one.detail
    # the shipped 1-thread record (made with the box's settings) is the per-core rate
    (single,) = [
        e for e in catalog.speed_efficiencies if e.quant_family == "Q4_K" and e.threads == 1
    ]
    model = catalog.models[TINY]
    per_core = single.generation * single.bandwidth_gbs * 1e9 / (model.file_size_mb * 1e6)
    assert one.generation_tokens_per_s == pytest.approx(per_core)
    eff = efficiency_for(catalog, "Q4_K_M", "cpu")
    assert eff is not None and eff.threads > 1  # the efficiency stays the all-threads record
    assert one.generation_tokens_per_s < one.roofline_tokens_per_s * eff.generation
    assert "per-core rate measured" in one.detail
    # two cores double the compute ceiling
    two = predict(catalog, "1", TINY, provider="hetzner")
    assert two.threads == 2
    assert two.generation_tokens_per_s == pytest.approx(2 * one.generation_tokens_per_s)


def test_without_a_one_thread_record_the_per_core_rate_is_derived_and_says_so() -> None:
    catalog = load_catalog()
    eff = efficiency_for(catalog, "Q4_K_M", "cpu")
    assert eff is not None
    source = Source(ref="derived: a figure for the test", as_of="2026-12-05")
    derived = eff.model_copy(update={"per_core_gbs": 5.0, "per_core_source": source})
    only = catalog.model_copy(update={"speed_efficiencies": [derived]})
    one = predict(only, "1", TINY, provider="digitalocean")
    model = catalog.models[TINY]
    assert one.bound == "compute" and "per-core rate derived" in one.detail
    assert one.generation_tokens_per_s == pytest.approx(
        5e9 / (model.file_size_mb * 1e6) * eff.generation
    )


def test_a_one_thread_record_makes_the_per_core_rate_measured() -> None:
    catalog = load_catalog()
    eff = efficiency_for(catalog, "Q4_K_M", "cpu")
    assert eff is not None
    single = eff.model_copy(update={"threads": 1, "generation": 0.25, "bandwidth_gbs": 20.0})
    measured = catalog.model_copy(update={"speed_efficiencies": [eff, single]})
    # the all-threads record stays the efficiency; the 1-thread one gives 5 GB/s per core
    assert efficiency_for(measured, "Q4_K_M", "cpu") == eff
    one = predict(measured, "1", TINY, provider="digitalocean")
    model = catalog.models[TINY]
    assert one.generation_tokens_per_s == pytest.approx(5e9 / (model.file_size_mb * 1e6))
    assert "per-core rate measured" in one.detail


def test_a_parallel_gain_never_measured_at_the_servers_cores_is_assumed_to_be_one() -> None:
    catalog = load_catalog()
    tier = catalog.tier("5")  # 8 slots on many cores; the gain was measured on 2 threads
    for speed in tier_speeds(catalog, tier).values():
        assert speed.threads != 2
        assert speed.gain_source == "assumed"
        assert speed.gain(speed.slots) == 1.0
    measured = tier_speeds(catalog, catalog.tier("2"))[TINY]  # 2 threads, 2 slots: measured
    assert measured.gain_source == "measured" and measured.gain(2) > 1.0


def test_the_compute_buffer_follows_vocabulary_and_micro_batch() -> None:
    catalog = load_catalog()
    tiny = catalog.models[TINY].architecture
    qwen = catalog.models[QWEN].architecture
    # llama.cpp logs 70.50 MiB for TinyLlama at n_ubatch 512 (docs/plans-speed.md); Qwen2.5's
    # 151,936-token vocabulary makes it about 300 MiB
    assert compute_buffer_mib(tiny, 2048, 512) == pytest.approx(70.5)
    assert compute_buffer_mib(qwen, 2048, 512) == pytest.approx(302.6, abs=0.5)
    assert compute_buffer_mib(qwen, 2048, 128) == pytest.approx(302.6 / 4, abs=0.2)
    # the same figure the bench estimates from a GGUF header, with and without flash attention
    for arch in (tiny, qwen):
        for flash in (True, False):
            shape = {"embedding": arch.embedding, "feed_forward": arch.feed_forward}
            bench = compute_buffer_bytes(
                vocab=arch.vocab, heads=arch.heads, context_per_slot=2048, ubatch=512,
                flash_attn=flash, **shape,
            )  # fmt: skip
            assert compute_buffer_mib(arch, 2048, 512, flash_attn=flash) == bench / MIB


def test_every_shipped_tier_fits_with_its_compute_buffers() -> None:
    catalog = load_catalog()
    for tier in catalog.tiers:
        assert tier_memory_budget(catalog, tier).fits, tier.id


def test_validate_fails_an_over_full_tier(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    # tier 2 at llama.cpp's default micro-batch: Qwen2.5's compute buffer no longer fits in 4 GB
    full = text.replace("    ubatch_size: 128\n", "    ubatch_size: 512\n", 1)
    assert full != text
    path = tmp_path / "tiers.yaml"
    path.write_text(full, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    models_key = full.index("    models:\n", full.index('  - id: "2"\n'))
    line = full.count("\n", 0, models_key) + 1
    assert f"{path}:{line}: tiers[1].models" in result.output
    assert "do not fit tier 2" in result.output and "micro-batch 512" in result.output


def test_validate_says_where_an_offer_differs_from_its_tier() -> None:
    result = runner.invoke(app, ["validate", "--json"])
    assert result.exit_code == 0, result.output
    import json

    offers = json.loads(result.output)["offers"]
    assert any("hetzner cx33 has 4 vCPU, the tier says 2" in o for o in offers)
    assert any("tiers[2].offers[0].vcpu" in o for o in offers)
    # tier 1 now says its offers' 2 vCPUs
    assert not any("tiers[0]." in o and ".vcpu:" in o for o in offers)
