"""One route mix for router and plan: shares, prices, free quotas, and LiteLLM's own picks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from hybridctl.catalog import load_catalog
from hybridctl.catalog.route_mix import route_mix, route_prices
from hybridctl.planning.cost import cloud_only_spend, cloud_spend
from hybridctl.planning.workload import Workload
from hybridctl.render.router import build_router_context, render_router
from tests.router_fixtures import litellm_executable, missing, offline_env

CATALOG = load_catalog()


@pytest.mark.parametrize("tier_id", CATALOG.tier_ids)
def test_the_router_policy_prices_routes_with_the_planners_mix(tier_id: str) -> None:
    policy = build_router_context(CATALOG, tier_id, "aws").policy
    for route in ("medium", "large"):
        mix = route_mix(CATALOG, route)
        assert policy["route_prices"][route] == {
            "input_usd_per_mtok": pytest.approx(mix.input_usd_per_mtok, abs=1e-6),
            "output_usd_per_mtok": pytest.approx(mix.output_usd_per_mtok, abs=1e-6),
        }
    assert policy["route_prices"]["local"] == {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0}


def test_the_mix_is_the_mean_of_the_rendered_deployments_prices() -> None:
    """Each rendered deployment of a route group carries its own price; the plan's route price is
    their mean, which is what an equal-weight shuffle over them spends."""
    config = yaml.safe_load(
        render_router(build_router_context(CATALOG, "2", "hetzner"))["litellm_config.yaml"]
    )
    for route in ("medium", "large"):
        group = [d["litellm_params"] for d in config["model_list"] if d["model_name"] == route]
        mix = route_mix(CATALOG, route)
        assert len(group) == len(mix.members) == len(CATALOG.routing.routes[route])
        assert all("weight" not in p and "rpm" not in p and "tpm" not in p for p in group)
        mean_in = sum(float(p["input_cost_per_token"]) for p in group) / len(group) * 1e6
        mean_out = sum(float(p["output_cost_per_token"]) for p in group) / len(group) * 1e6
        assert mix.input_usd_per_mtok == pytest.approx(mean_in, rel=1e-6)
        assert mix.output_usd_per_mtok == pytest.approx(mean_out, rel=1e-6)
    # The large route is not gpt-4o alone: its mean is about twice gpt-4o's price per request.
    gpt4o = CATALOG.cloud_models["gpt-4o"]
    large = route_mix(CATALOG, "large")
    assert large.request_usd(300, 150) / ((300 * 2.5 + 150 * 10) / 1e6) == pytest.approx(
        1.91, abs=0.01
    )
    assert gpt4o.input_usd_per_mtok == 2.5


def test_the_free_member_takes_its_share_until_its_daily_quota() -> None:
    free = "openrouter-llama-3.1-8b-free"
    quota = CATALOG.cloud_models[free].free_requests_per_day
    assert quota == 50
    low = route_mix(CATALOG, "medium", requests_per_day=100)  # 25 each: under the quota
    assert {m.name: m.share for m in low.members}[free] == pytest.approx(0.25)
    high = route_mix(CATALOG, "medium", requests_per_day=10_000)
    shares = {m.name: m.share for m in high.members}
    assert shares[free] == pytest.approx(quota / 10_000)
    paid = [s for name, s in shares.items() if name != free]
    assert paid == pytest.approx([(1 - quota / 10_000) / 3] * 3)
    assert sum(shares.values()) == pytest.approx(1)
    # So a request on the medium route costs more at volume: the free member is used up.
    assert high.request_usd(300, 150) > low.request_usd(300, 150)


def test_cloud_only_sends_each_request_where_its_complexity_needs() -> None:
    workload = Workload(requests_per_day=1000, complex_share=0.3)  # 10% need large (seed 002)
    spend = cloud_only_spend(CATALOG, workload)
    assert (spend.medium_share, spend.large_share) == pytest.approx((0.9, 0.1))
    medium = route_mix(CATALOG, "medium", 900).request_usd(300, 150)
    large = route_mix(CATALOG, "large", 100).request_usd(300, 150)
    assert spend.monthly_usd == pytest.approx(30_000 * (0.9 * medium + 0.1 * large))
    explicit = cloud_spend(CATALOG, workload, 0.9, 0.1)
    assert explicit.monthly_usd == pytest.approx(spend.monthly_usd)


def test_route_prices_skip_an_empty_route() -> None:
    routing = CATALOG.routing.model_copy(update={"routes": {"large": ["gpt-4o"]}})
    catalog = CATALOG.model_copy(update={"routing": routing})
    prices = route_prices(catalog, ["local", "medium", "large"])
    assert set(prices) == {"local", "large"}
    assert prices["large"] == {"input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10}


_PICKS = """
import collections, json, sys, yaml
from litellm import Router
config = yaml.safe_load(open(sys.argv[1]))
router = Router(model_list=config["model_list"],
                routing_strategy=config["router_settings"]["routing_strategy"])
counts = {}
for group in ("medium", "large"):
    seen = collections.Counter()
    for _ in range(int(sys.argv[2])):
        seen[router.get_available_deployment(model=group)["litellm_params"]["model"]] += 1
    counts[group] = seen
print(json.dumps(counts))
"""


def test_litellm_picks_route_members_in_the_planners_shares(tmp_path: Path) -> None:
    """The real LiteLLM Router, given the rendered config, spreads each route as the plan says."""
    executable = litellm_executable()
    if executable is None:
        missing("LiteLLM not installed (.cache/litellm-venv)")
    python = executable.parent / "python"  # type: ignore[union-attr]
    config = tmp_path / "litellm_config.yaml"
    config.write_text(
        render_router(build_router_context(CATALOG, "2", "hetzner"))["litellm_config.yaml"]
    )
    draws = 4000
    keys = {
        name: "test-key"
        for name in (
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GROQ_API_KEY",
            "GEMINI_API_KEY",
            "OPENROUTER_API_KEY",
        )
    }
    done = subprocess.run(
        [str(python), "-c", _PICKS, str(config), str(draws)],
        capture_output=True,
        text=True,
        timeout=120,
        env=offline_env(keys),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    for route in ("medium", "large"):
        mix = route_mix(CATALOG, route)
        for member in mix.members:
            observed = counts[route].get(member.model.litellm_model, 0) / draws
            assert observed == pytest.approx(member.share, abs=0.04), (route, member.name)


def test_the_large_baseline_puts_every_request_on_the_large_route() -> None:
    routed = Workload(requests_per_day=10_000, response_tokens=500)
    large = routed.model_copy(update={"cloud_baseline": "large"})
    everything = cloud_only_spend(CATALOG, large)
    assert (everything.medium_share, everything.large_share) == (0.0, 1.0)
    per_request = route_mix(CATALOG, "large").request_usd(300, 500)
    assert everything.monthly_usd == pytest.approx(300_000 * per_request)
    assert everything.monthly_usd > cloud_only_spend(CATALOG, routed).monthly_usd
