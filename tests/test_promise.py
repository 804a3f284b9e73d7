"""A tier's serving promise is the plan's: concurrency and p95 from the speed model of its box."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.bench import defaults
from hybridctl.catalog import load_catalog
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.catalog.resources import server_resources
from hybridctl.cli.app import app
from hybridctl.ops.boxbench import BAND, judge, server_limits
from hybridctl.planning.capacity import model_speed
from hybridctl.planning.promise import (
    REQUEST_RESPONSE_TOKENS,
    closed_loop_p95,
    p95_at,
    promise_checks,
    serving_promise,
)
from hybridctl.planning.speed import predict

runner = CliRunner()
TINY = "tinyllama-1.1b-chat-q4_k_m"


def test_the_promise_is_made_for_the_load_tests_request() -> None:
    assert REQUEST_RESPONSE_TOKENS == defaults.LOAD_MAX_TOKENS


def test_every_shipped_promise_is_the_plans() -> None:
    catalog = load_catalog()
    assert promise_checks(catalog) == []
    for tier in catalog.tiers:
        promise = serving_promise(catalog, tier)
        assert promise.holds, (tier.id, promise)
        assert promise.concurrency == tier.promises.max_concurrent
        assert promise.p95_s == p95_at(catalog, tier, promise.concurrency)


def test_a_slower_box_lowers_the_promise_until_it_holds() -> None:
    catalog = load_catalog()
    tier = catalog.tier("5")
    fast = serving_promise(catalog, tier)
    slow = serving_promise(catalog, tier, bandwidth_gbs=tier.memory_bandwidth_gbs / 4)
    assert slow.generation_tokens_per_s < fast.generation_tokens_per_s
    assert slow.concurrency < fast.concurrency
    assert slow.p95_s <= slow.ceiling_s


def test_clients_beyond_the_slots_wait_for_one() -> None:
    catalog = load_catalog()
    speed = model_speed(catalog, catalog.tier("1"), TINY)
    one = closed_loop_p95(speed, 1, 40, 64)
    full = closed_loop_p95(speed, speed.slots, 40, 64)
    over = closed_loop_p95(speed, speed.slots + 1, 40, 64)
    assert one < full
    assert over == 2 * full


def test_validate_flags_a_concurrency_the_plan_does_not_hold() -> None:
    catalog = load_catalog()
    tiers = [
        t.model_copy(update={"promises": t.promises.model_copy(update={"max_concurrent": 30})})
        if t.id == "1"
        else t
        for t in catalog.tiers
    ]
    findings = promise_checks(catalog.model_copy(update={"tiers": tiers}))
    assert any(f.startswith("tier 1: promises 30 concurrent") for f in findings), findings


def test_validate_flags_a_latency_one_request_cannot_meet() -> None:
    catalog = load_catalog()
    tiers = [
        t.model_copy(
            update={"promises": t.promises.model_copy(update={"typical_latency_s": (0.1, 0.2)})}
        )
        if t.id == "1"
        else t
        for t in catalog.tiers
    ]
    findings = promise_checks(catalog.model_copy(update={"tiers": tiers}))
    assert any("tier 1: one request alone takes" in f for f in findings), findings


def test_a_machines_bandwidth_replaces_the_tiers_and_its_measurements() -> None:
    catalog = load_catalog()
    tiny = catalog.tier("1")
    low = predict(catalog, tiny.id, TINY, host_cpus=1, bandwidth_gbs=1.0)
    assert low.source == "derived" and low.threads == 1
    assert low.generation_tokens_per_s < predict(catalog, tiny.id, TINY).generation_tokens_per_s


def test_the_bench_judges_the_plan_within_its_band() -> None:
    row = {"name": "m", "predicted_tokens_per_s": 20.0}
    assert judge({**row, "measured_tokens_per_s": 20.0 * (1 - BAND / 2)})[0]
    assert judge({**row, "measured_tokens_per_s": 20.0 * (1 + BAND / 2)})[0]
    ok, line = judge({**row, "measured_tokens_per_s": 20.0 * (1 - 2 * BAND)})
    assert not ok and "the plan predicts 20.0" in line


def test_the_bench_reads_the_limits_the_box_was_rendered_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle"
    result = runner.invoke(app, ["render", "--tier", "1", "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    monkeypatch.setattr("hybridctl.ops.boxbench.deployment_dir", lambda name: tmp_path)
    record = DeploymentRecord.model_construct(name="p17-unit", tier="1", provider="local")
    limits = server_limits(record)
    resources = server_resources(load_catalog().tier("1"))
    assert limits["threads"] == resources.threads
    assert limits["cpus"] == resources.cpu_limit
    assert limits["memory"]


def test_bench_help_says_a_local_box_is_timed_by_its_own_server() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "own model server" in " ".join(result.output.split())


def test_validate_json_has_no_speed_findings_for_the_shipped_catalog() -> None:
    result = runner.invoke(app, ["validate", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["speed"] == []
