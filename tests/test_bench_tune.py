"""`bench --tune`: the sweep, the choice, the memory budget and the rendered preset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.bench_host.model_files import ModelFile
from hybridctl.bench_host.tune import Trial, choose, tune_tier
from hybridctl.bench_host.tune_settings import Grid, Setting, fits_tier
from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.paths import default_catalog_path
from hybridctl.render import RenderOptions
from hybridctl.render.bundle import render_files

pytest.importorskip("llama_cpp")

TINYLLAMA = "tinyllama-1.1b-chat-q4_k_m"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    path = tmp_path / "tiers.yaml"
    shutil.copy(default_catalog_path(), path)
    return path


def trial(setting: Setting, score: float, single: float, flags: list[str] | None = None) -> Trial:
    return Trial(setting, "ok", throughput=score, single_stream=single, score=score, flags=flags)


def test_choice_is_the_best_score_that_keeps_the_promise_and_is_not_noisy() -> None:
    a, b, c = Setting(1, 1), Setting(2, 2), Setting(2, 4)
    trials = [trial(a, 10, 10), trial(b, 18, 9), trial(c, 30, 4)]
    best, why = choose(trials, promised=8)
    assert best is not None and best.setting == b  # c scores more but a lone request is slow
    assert "promised" in why
    noisy = [trial(a, 10, 10), trial(b, 18, 9, ["noisy: spread 9% after a repeat"])]
    assert choose(noisy, promised=8)[0].setting == a  # type: ignore[union-attr]
    fastest, why = choose([trial(a, 10, 5), trial(b, 18, 6)], promised=8)
    assert fastest is not None and fastest.setting == b and "no setting" in why


def test_settings_that_do_not_fit_the_tier_are_refused_before_running() -> None:
    catalog = load_catalog()
    tier = catalog.tier("1")
    assert fits_tier(catalog, tier, Setting(1, tier.parallel_slots))
    # repacking TinyLlama keeps ~450 MiB more than tier 1's 2 GiB leaves
    assert not fits_tier(catalog, tier, Setting(1, tier.parallel_slots, repack=True))


def test_tune_runs_the_grid_picks_the_best_and_the_preset_uses_it(
    tiny_model: Path, catalog_copy: Path
) -> None:
    catalog = load_catalog(catalog_copy)
    tier = catalog.tier("2")
    grid = Grid(
        threads=(1,),
        parallel_slots=(1, 2),
        batches=((512, 128),),
        flash_attn=(True,),
        kv_types=("f16",),
        repack=(False,),
    )
    report = tune_tier(
        catalog,
        tier,
        [ModelFile(tiny_model, TINYLLAMA)],
        budget_s=300,
        catalog_path=catalog_copy,
        progress=lambda _line: None,
        grid=grid,
        tokens=(2, 16, 8),
    )
    trials = report["trials"]
    default = trials[0]["setting"]  # the default runs first: the tier's slots and micro-batch
    assert (default["parallel_slots"], default["ubatch_size"]) == (
        tier.parallel_slots,
        tier.ubatch_size,
    )
    assert default["flash_attn"] is None and default["repack"] is tier.weight_repacking
    ran = [t for t in trials if t["status"] == "ok"]
    assert len(ran) == len(trials) == 3  # default + the two grid settings
    assert all(t["score"] > 0 and t["spread"] is not None for t in ran)
    best = report["best"]
    quiet = [t for t in ran if not any(f.startswith("noisy") for f in t["flags"])] or ran
    assert best["score"] == max(t["score"] for t in quiet)  # a tiny model beats every promise
    assert report["gain"] == pytest.approx(best["score"] / trials[0]["score"], rel=1e-2)

    tuned = load_catalog(catalog_copy).tier("2").tuning
    assert tuned is not None and tuned.ubatch_size == best["setting"]["ubatch_size"]
    assert tuned.parallel_slots == best["setting"]["parallel_slots"]
    files = render_files(load_catalog(catalog_copy), RenderOptions(tier_id="2")).files
    ini = next(text for path, text in files.items() if path.endswith("models.ini"))
    assert f"ubatch-size = {tuned.ubatch_size}" in ini
    assert f"parallel = {tuned.parallel_slots}" in ini
    # On a busy machine the default may win; the preset says what the winner said.
    flash = best["setting"]["flash_attn"]
    if flash is None:
        assert "flash-attn" not in ini
    else:
        assert f"flash-attn = {'on' if flash else 'off'}" in ini


def test_cli_tune_within_a_time_budget_reports_tuned_against_default(
    tiny_model: Path, catalog_copy: Path
) -> None:
    args = ["bench", "--tier", "1", "--model", f"{TINYLLAMA}={tiny_model}", "--tune"]
    result = CliRunner().invoke(
        app, [*args, "--tune-budget-s", "1", "--catalog", str(catalog_copy), "--update-catalog"]
    )
    assert result.exit_code == 0, result.output
    assert "not run (time budget)" in result.stdout
    assert "tuned" in result.stdout and "against default" in result.stdout
    assert load_catalog(catalog_copy).tier("1").tuning is not None


def test_cli_tune_needs_a_tier_and_a_local_model(tiny_model: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--model", str(tiny_model), "--tune"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["bench", "--tier", "1", "--tune"])
    assert result.exit_code == 2
    assert "--model ID=PATH" in result.output


def test_cli_tune_where_no_setting_runs_exits_1(tiny_model: Path, tmp_path: Path) -> None:
    """A model no setting can load (here: an architecture llama.cpp does not know) is a
    failure, not exit 0."""
    alien = tmp_path / "alien.gguf"
    alien.write_bytes(tiny_model.read_bytes().replace(b"llama", b"xxxxx"))
    args = ["bench", "--tier", "1", "--model", f"{TINYLLAMA}={alien}", "--tune"]
    result = CliRunner().invoke(app, [*args, "--tune-budget-s", "1"])
    assert result.exit_code == 1, result.output
    assert "no setting ran: every setting failed or was skipped" in result.stdout
    assert "llama.cpp could not load the model" in result.stdout


def test_cli_tune_refuses_a_model_file_cut_short(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_model.read_bytes()[:4096])
    args = ["bench", "--tier", "1", "--model", f"{TINYLLAMA}={broken}", "--tune"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"--tune cannot read model file {broken}: file ends early" in result.output
