"""`prices refresh`: the three fetchers on replayed answers, the snapshot, the catalog over it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.catalog.price_refresh import wanted_offers
from hybridctl.cli import prices_cmd
from hybridctl.cli.app import app
from hybridctl.providers import prices as shared
from hybridctl.providers.aws import prices as aws
from hybridctl.providers.gcp import prices as gcp
from hybridctl.providers.hetzner import prices as hetzner
from hybridctl.providers.prices import PriceFetchError

DATA = Path(__file__).parent / "data" / "prices"
TOKEN = "hcloud-test-token-never-printed"
GCP_KEY = "gcp-test-key-never-printed"
DAY = "2027-01-15"  # the refresh's date: not the shipped snapshot's
runner = CliRunner()


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class Replay:
    """A transport that answers from the recorded files and remembers what was asked."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = answers or {
            f"{hetzner.URL}?page=1&per_page=50": _load("hetzner_server_types_page1.json"),
            f"{hetzner.URL}?page=2&per_page=50": _load("hetzner_server_types_page2.json"),
            f"{gcp.URL}?currencyCode=USD&pageSize=5000": _load("gcp_skus_page1.json"),
            f"{gcp.URL}?currencyCode=USD&pageSize=5000&pageToken=TESTPAGE2": _load(
                "gcp_skus_page2.json"
            ),
        }
        self.asked: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        self.asked.append((url, dict(headers)))
        if url not in self.answers:
            raise PriceFetchError(f"GET {url.split('?')[0]} answered HTTP 404: not recorded")
        return self.answers[url]


def _stubbed_pricing_client(wanted: list[shared.Wanted]) -> Any:
    """A real boto3 pricing client whose answers are the recorded ones; botocore checks each
    request against the Price List API's own model (names, types, enums)."""
    import boto3

    client = boto3.client(
        "pricing",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="test-secret",
    )
    stub = Stubber(client)
    recorded = _load("aws_get_products.json")
    for offer in wanted:
        expected = {
            "ServiceCode": "AmazonEC2",
            "Filters": aws.filters(offer),
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        stub.add_response("get_products", recorded[offer.instance_type], expected)
    stub.activate()
    return client


def _wanted(provider: str) -> list[shared.Wanted]:
    return wanted_offers(load_catalog(), provider, None)


# --- the fetchers, on the recorded answers ---------------------------------------------------


def test_hetzner_reads_every_page_and_prices_net_eur_at_the_rate() -> None:
    replay = Replay()
    result = hetzner.fetch(
        _wanted("hetzner"), token=TOKEN, usd_per_eur=1.1637, as_of=DAY, transport=replay
    )
    priced = {p.instance_type: p for p in result.priced}
    assert priced["cx33"].price == 6.49 and priced["cx33"].currency == "EUR"
    assert priced["cx33"].monthly_usd == round(6.49 * 1.1637, 2)
    assert priced["ccx43"].monthly_usd == round(239.99 * 1.1637, 2)
    assert priced["cx23"].source == f"Hetzner Cloud API, GET {hetzner.URL}"
    assert [(w.instance_type, why) for w, why in result.missing] == [("cpx32", "not sold in fsn1")]
    assert [url.rsplit("?", 1)[1] for url, _ in replay.asked] == [
        "page=1&per_page=50",
        "page=2&per_page=50",
    ]
    assert all(h == {"Authorization": f"Bearer {TOKEN}"} for _, h in replay.asked)


def test_aws_asks_getproducts_per_offer_with_the_documented_filters() -> None:
    wanted = _wanted("aws")
    result = aws.fetch(wanted, client=_stubbed_pricing_client(wanted), as_of=DAY)
    priced = {p.instance_type: p for p in result.priced}
    assert set(priced) == {w.instance_type for w in wanted} and not result.missing
    assert priced["g5.xlarge"].price == 1.006 and priced["g5.xlarge"].unit == "hour"
    assert priced["g5.xlarge"].monthly_usd == round(1.006 * 730, 2)
    assert priced["g4dn.xlarge"].gpu == "NVIDIA T4"
    assert priced["t3.xlarge"].vcpu == 4 and priced["t3.xlarge"].ram_gib == 16


def test_gcp_composes_cores_ram_and_gpu_skus_and_skips_other_usage() -> None:
    replay = Replay()
    result = gcp.fetch(_wanted("gcp"), api_key=GCP_KEY, as_of=DAY, transport=replay)
    priced = {p.instance_type: p for p in result.priced}
    # n1-standard-4 + one T4: 4 x 0.031611 + 15 x 0.004237 + 0.35 per hour
    assert priced["n1-standard-4"].price == pytest.approx(0.539999)
    assert priced["n1-standard-4"].monthly_usd == 394.2
    assert priced["e2-small"].price == pytest.approx(0.5 * 0.021811 + 2 * 0.002923)  # shared core
    assert priced["n2-standard-16"].monthly_usd == round((16 * 0.031611 + 64 * 0.004237) * 730, 2)
    assert not result.missing
    assert len(replay.asked) == 2  # two pages
    assert all(h == {"X-Goog-Api-Key": GCP_KEY} for _, h in replay.asked)  # never in the URL
    assert all(GCP_KEY not in url for url, _ in replay.asked)


@pytest.mark.parametrize(
    ("provider", "answers", "words"),
    [
        ("hetzner", {"server_types": "not a list"}, "'server_types' is missing or not a list"),
        (
            "gcp",
            {
                "skus": [
                    {
                        "description": "N1 Predefined Instance Core running in Americas",
                        "category": {"usageType": "OnDemand", "resourceGroup": "N1Standard"},
                        "serviceRegions": ["us-central1"],
                    }
                ]
            },
            "'pricingInfo' is missing",
        ),
    ],
)
def test_a_malformed_answer_is_a_clear_error(provider: str, answers: Any, words: str) -> None:
    replay = Replay(
        dict.fromkeys(
            [f"{hetzner.URL}?page=1&per_page=50", f"{gcp.URL}?currencyCode=USD&pageSize=5000"],
            answers,
        )
    )
    with pytest.raises(PriceFetchError, match=words):
        if provider == "hetzner":
            hetzner.fetch(
                _wanted("hetzner"), token=TOKEN, usd_per_eur=1.1, as_of=DAY, transport=replay
            )
        else:
            gcp.fetch(_wanted("gcp"), api_key=GCP_KEY, as_of=DAY, transport=replay)


# --- the command: refresh, the snapshot, and the catalog over it ------------------------------


@pytest.fixture
def clouds(monkeypatch: pytest.MonkeyPatch) -> Replay:
    """Every cloud answers from the recorded files; credentials are set; the day is DAY."""
    replay = Replay()
    for module in (hetzner, gcp):
        monkeypatch.setattr(module, "urllib_transport", lambda timeout_s=30.0: replay)
    monkeypatch.setattr(
        aws, "client_from_environment", lambda: _stubbed_pricing_client(_wanted("aws"))
    )
    monkeypatch.setattr(prices_cmd, "_today", lambda: DAY)
    monkeypatch.setenv("HCLOUD_TOKEN", TOKEN)
    monkeypatch.setenv("GCP_BILLING_API_KEY", GCP_KEY)
    return replay


def _snapshot_path(home: Path) -> Path:
    return home / ".config" / "hybridctl" / "prices.yaml"


def test_refresh_then_recommend_uses_the_new_prices_and_date(
    clouds: Replay, isolated_env: Path
) -> None:
    done = runner.invoke(app, ["prices", "refresh", "--provider", "hetzner"])
    assert done.exit_code == 0, done.output
    assert TOKEN not in done.output
    assert "hetzner cx33" in done.output and "$10.46" in done.output and "$7.55" in done.output
    assert "-27.8%" in done.output  # 10.46 -> 7.55
    assert "not priced, keeps $41.88: hetzner cpx32 (fsn1): not sold in fsn1" in done.output
    written = yaml.safe_load(_snapshot_path(isolated_env).read_text())
    assert written["as_of"] == DAY and written["usd_per_eur"] == 1.1637
    assert {o["instance_type"] for o in written["offers"]} == {"cx23", "cx33", "ccx43"}
    assert TOKEN not in _snapshot_path(isolated_env).read_text()

    plan = runner.invoke(
        app, ["recommend", "--requests-per-day", "5000", "-p", "hetzner", "--json"]
    )
    assert plan.exit_code == 0, plan.output
    answer = json.loads(plan.output)
    assert answer["prices_as_of"] == DAY
    ccx43 = next(c for c in answer["considered"] if c["instance_type"] == "ccx43")
    assert ccx43["server_usd"] / ccx43["nodes"] == pytest.approx(round(239.99 * 1.1637, 2))
    text = runner.invoke(app, ["recommend", "--requests-per-day", "5000", "-p", "hetzner"])
    assert f"(server prices as of {DAY})" in text.output
    offer = next(o for o in load_catalog().tier("2.5").offers if o.instance_type == "cx33")
    assert offer.monthly_usd == 7.55 and offer.price_source.as_of == DAY
    assert "price_monthly.net EUR 6.49" in offer.price_source.ref
    cpx32 = next(o for o in load_catalog().tier("3").offers if o.instance_type == "cpx32")
    assert cpx32.monthly_usd == 41.88  # not priced: the shipped price stays


def test_refresh_of_all_three_clouds_merges_into_one_snapshot(
    clouds: Replay, isolated_env: Path
) -> None:
    done = runner.invoke(app, ["prices", "refresh", "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["providers"] == ["aws", "gcp", "hetzner"] and answer["as_of"] == DAY
    rows = {(r["provider"], r["instance_type"]): r for r in answer["offers"]}
    assert rows[("gcp", "n1-standard-4")]["new_monthly_usd"] == 394.2
    assert rows[("aws", "g5.xlarge")]["change_pct"] == 0.0
    assert rows[("hetzner", "cpx32")]["not_priced_because"] == "not sold in fsn1"
    assert GCP_KEY not in done.output and TOKEN not in done.output
    show = runner.invoke(app, ["prices", "show"])
    assert show.exit_code == 0 and f"as of {DAY}" in show.output and "g4dn.xlarge" in show.output


def test_a_second_refresh_keeps_the_other_providers_prices(
    clouds: Replay, isolated_env: Path
) -> None:
    assert runner.invoke(app, ["prices", "refresh", "-p", "gcp"]).exit_code == 0
    assert runner.invoke(app, ["prices", "refresh", "-p", "hetzner"]).exit_code == 0
    written = yaml.safe_load(_snapshot_path(isolated_env).read_text())
    assert {o["provider"] for o in written["offers"]} == {"gcp", "hetzner"}


def test_out_and_region_choose_the_file_and_the_offers(clouds: Replay, tmp_path: Path) -> None:
    out = tmp_path / "prices.yaml"
    done = runner.invoke(
        app, ["prices", "refresh", "-p", "gcp", "--region", "us-central1", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output and out.exists()
    nowhere = runner.invoke(app, ["prices", "refresh", "-p", "gcp", "--region", "mars-1"])
    assert nowhere.exit_code == 2 and "no gcp offer in region 'mars-1'" in nowhere.output


# --- what goes wrong, and the exit code it gets ------------------------------------------------


def test_missing_credentials_exit_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    for provider, variable in [
        ("hetzner", "HCLOUD_TOKEN"),
        ("gcp", "GCP_BILLING_API_KEY"),
        ("aws", "AWS_ACCESS_KEY_ID"),
    ]:
        done = runner.invoke(app, ["prices", "refresh", "--provider", provider])
        assert done.exit_code == 2, done.output
        assert variable in done.output and "Traceback" not in done.output
    nothing = runner.invoke(app, ["prices", "refresh"])
    assert nothing.exit_code == 2 and "HCLOUD_TOKEN" in nothing.output


def test_a_malformed_answer_exits_1_and_writes_nothing(clouds: Replay, isolated_env: Path) -> None:
    clouds.answers[f"{hetzner.URL}?page=1&per_page=50"] = {"server_types": [{"name": "cx23"}]}
    done = runner.invoke(app, ["prices", "refresh", "-p", "hetzner"])
    assert done.exit_code == 1, done.output
    assert "server type cx23: the field 'prices' is missing or not a list" in done.output
    assert not _snapshot_path(isolated_env).exists()


def test_an_unreachable_source_exits_1_with_what_failed(clouds: Replay, isolated_env: Path) -> None:
    clouds.answers.clear()
    done = runner.invoke(app, ["prices", "refresh", "-p", "gcp"])
    assert done.exit_code == 1 and "cloudbilling.googleapis.com" in done.output
    assert GCP_KEY not in done.output


def test_an_unknown_provider_or_action_suggests_close_matches() -> None:
    done = runner.invoke(app, ["prices", "refresh", "--provider", "hetzer"])
    assert done.exit_code == 2 and "did you mean 'hetzner'?" in done.output
    done = runner.invoke(app, ["prices", "refesh"])
    assert done.exit_code == 2 and "Did you mean 'refresh'?" in done.output


def test_a_bad_snapshot_file_names_the_file_and_the_field(isolated_env: Path) -> None:
    path = _snapshot_path(isolated_env)
    path.parent.mkdir(parents=True)
    path.write_text(
        "version: 1\nas_of: 2027-01-15\nusd_per_eur: 1.16\n"
        "exchange_rate_source: {ref: ECB, as_of: 2027-01-14}\noffers:\n"
        "  - {provider: hetzner, instance_type: cx23, region: fsn1, vcpu: 2, ram_gib: 4,\n"
        "     price: 5.99, currency: EUR, unit: month, monthly_usd: -1, source: api,\n"
        "     detail: x, as_of: 2027-01-15}\n"
    )
    done = runner.invoke(app, ["recommend", "--requests-per-day", "500"])
    assert done.exit_code == 2, done.output
    output = " ".join(done.output.split())
    assert f"price snapshot {path} is invalid" in output and "Traceback" not in output
    assert f"{path}:7: offers[0].monthly_usd: Input should be greater than 0" in output
    # The catalog's own wording: an unknown field gets the close ones.
    path.write_text(path.read_text().replace("  - {provider:", "  - {provder:"))
    done = runner.invoke(app, ["prices", "show"])
    output = " ".join(done.output.split())
    assert done.exit_code == 2 and "offers[0].provder: unknown field (did you mean" in output


def test_show_without_a_snapshot_says_which_prices_are_used() -> None:
    done = runner.invoke(app, ["prices", "show"])
    assert done.exit_code == 0 and "the catalog's prices (as of" in done.output


def test_aws_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a)
    )
    done = runner.invoke(app, ["prices", "refresh", "-p", "aws"])
    assert done.exit_code == 2 and "hybridctl[prices]" in done.output
