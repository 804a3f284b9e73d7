"""The box learns (need bands counted by the hook, `route refit`) and the plan's measured share."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.errors import InputError
from hybridctl.gateway.hook import need
from hybridctl.gateway.route_record import MIN_CHECKED, parse_record, refit
from hybridctl.planning.capacity import tier_load
from hybridctl.planning.recommend import recommend
from hybridctl.planning.router_share import cloud_for_quality, gap_recovered, router_share
from hybridctl.planning.workload import Workload
from tests.router_fixtures import handler as _handler
from tests.router_fixtures import pre_call as _pre_call
from tests.router_fixtures import request as _request
from tests.router_fixtures import user as _user

CATALOG = load_catalog()
MATH = "A farmer has 12 cows and buys 3 times as many sheep, then sells half. How many remain?"


class Recorder:
    """Stands in for the hook's Prometheus metrics: what was counted, with which labels."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str]]] = []

    def set(self, name: str, value: float) -> None:
        pass

    def count(self, name: str, **labels: str) -> None:
        self.counted.append((name, labels))

    def of(self, name: str) -> list[dict[str, str]]:
        return [labels for counted, labels in self.counted if counted == name]


@pytest.mark.parametrize(
    ("value", "bucket"), [(0.0, "0.00"), (0.049, "0.00"), (0.55, "0.55"), (0.999, "0.95")]
)
def test_need_bands_are_named_by_their_lower_bound(value: float, bucket: str) -> None:
    assert need.need_bucket(value) == bucket
    assert need.need_bucket(-3) == "0.00" and need.need_bucket(7) == "0.95"


def test_quantity_problems_get_their_own_word_weights() -> None:
    assert all(name.startswith("m:") for name in need.feature_names(MATH))
    assert all(name.startswith("w:") for name in need.feature_names("Write a short poem."))
    math_dense, poem_dense = need.dense_features(MATH), need.dense_features("Write a poem.")
    assert math_dense[3] == 1.0 and poem_dense[3] == 0.0
    assert math_dense[5] > 0  # "times", "half": steps of a multi-step problem


def test_an_open_quantity_problem_shows_its_fractions_relations_and_size() -> None:
    prior = need.PRIOR_FEATURES
    fractions, relations, size = need.dense_features(MATH)[-prior:]
    assert fractions > 0 and relations > 0  # "half"; "3 times as many"
    assert size == pytest.approx(need.dense_features(MATH)[0] - need.OPEN_SIZE_CENTER)
    choices = MATH + "\nA. 18\nB. 24\nC. 30\nD. 36\nAnswer:"
    assert need.dense_features(choices)[-prior:] == [0.0, 0.0, 0.0]  # multiple choice: none
    essay = "Write half a page on why rivers are longer than roads."
    assert need.dense_features(essay)[-prior:] == [0.0, 0.0, 0.0]  # not a quantity problem
    model = need.NeedModel.load()
    assert len(model.dense_weights) == len(need.dense_features(MATH))
    harder = "Ann is 3 times as old as Bo, who is 4 years younger than Cy, aged 12. Ann's age?"
    plain = "Ann has 12 apples and Bo has 4 apples. How many apples do they have together?"
    assert model.need(harder) > model.need(plain)


def _hook_with_recorder(hook: ModuleType) -> tuple[Any, Recorder]:
    handler = _handler(hook)
    recorder = Recorder()
    handler.store.metrics = recorder
    return handler, recorder


def test_the_hook_counts_each_request_in_its_need_band_and_route(hook: ModuleType) -> None:
    handler, recorder = _hook_with_recorder(hook)
    data = _pre_call(handler, _request([_user(MATH)]))
    counted = recorder.of("need_routed")
    score = handler.need_model.need(MATH)
    assert counted == [
        {"bucket": need.need_bucket(score), "route": data["metadata"]["hybrid_route"]}
    ]
    assert MATH not in json.dumps(recorder.counted)  # counts, never content


class _Choice:
    def __init__(self, logprob: float) -> None:
        self.logprobs = {"content": [{"logprob": logprob}] * 3}


def _escalate(handler: Any, meta: dict[str, Any], logprob: float, monkeypatch) -> Any:
    """The post-call escalation with LiteLLM's router played by a stub that answers "cloud"."""

    async def acompletion(**_: Any) -> str:
        return "cloud answer"

    for name in ("litellm", "litellm.proxy"):
        monkeypatch.setitem(sys.modules, name, ModuleType(name))
    server = ModuleType("litellm.proxy.proxy_server")
    server.llm_router = SimpleNamespace(acompletion=acompletion)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", server)
    response = SimpleNamespace(choices=[_Choice(logprob)], model="local")
    return asyncio.run(handler._escalated({"messages": []}, meta, response))


def test_a_checked_local_answer_and_its_escalation_are_counted_in_its_band(
    hook: ModuleType, monkeypatch
) -> None:
    handler, recorder = _hook_with_recorder(hook)
    meta = {"hybrid_escalate_to": "medium", "hybrid_min_confidence": 0.75, "hybrid_need": 0.62}
    assert _escalate(handler, dict(meta), -0.01, monkeypatch) is None  # confident: kept
    assert recorder.of("need_checked") == [{"bucket": "0.60"}]
    assert recorder.of("need_escalated") == []
    assert _escalate(handler, dict(meta), -3.0, monkeypatch) == "cloud answer"
    assert recorder.of("need_checked") == [{"bucket": "0.60"}] * 2
    assert recorder.of("need_escalated") == [{"bucket": "0.60"}]


def _exposition(bands: dict[str, tuple[int, int, int, int]]) -> str:
    """A /metrics/ page as prometheus_client writes it: band -> (local, medium, checked, esc)."""
    lines = ["# HELP hybrid_need_requests_total Requests by need band, route"]
    for bucket, (local, medium, checked, escalated) in bands.items():
        lines += [
            f'hybrid_need_requests_total{{bucket="{bucket}",route="local"}} {local}.0',
            f'hybrid_need_requests_total{{bucket="{bucket}",route="medium"}} {medium}.0',
            f'hybrid_need_requests_created{{bucket="{bucket}",route="local"}} 1.7e+09',
            f'hybrid_need_local_checked_total{{bucket="{bucket}"}} {checked}.0',
            f'hybrid_need_escalations_total{{bucket="{bucket}"}} {escalated}.0',
        ]
    lines.append('hybrid_routed_requests_total{route="local",user_tier="paid"} 99.0')
    return "\n".join(lines) + "\n"


RECORD = {
    "0.40": (40, 0, 40, 4),  # 10% escalated
    "0.45": (30, 0, 30, 18),  # 60%
    "0.50": (20, 0, 20, 14),  # 70%
    "0.55": (0, 10, 0, 0),  # sent to medium already: never checked
    "0.60": (2, 0, 2, 0),  # too few checked to judge
}


def test_the_record_is_read_per_band_and_the_threshold_moves_to_where_local_fails() -> None:
    bands = parse_record(_exposition(RECORD))
    assert [b.bucket for b in bands] == [0.40, 0.45, 0.50, 0.55, 0.60]
    assert bands[1].routes == {"local": 30.0, "medium": 0.0} and bands[1].escalation_rate == 0.6
    result = refit(bands, max_escalation=0.5, current=0.58)
    assert result["threshold"] == 0.45 and result["changed"]
    assert result["cloud_share"] == pytest.approx((30 + 20 + 10 + 2) / 102)
    assert MIN_CHECKED > 2  # the 0.60 band's 2 answers do not veto the re-fit
    strict = refit(bands, max_escalation=0.65, current=0.58)
    assert strict["threshold"] == 0.50
    kept = refit(bands, max_escalation=0.9, current=0.58)
    assert kept["threshold"] == 0.58 and not kept["changed"]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["route", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_route_refit_reads_a_saved_metrics_page(tmp_path: Path) -> None:
    page = tmp_path / "metrics.txt"
    page.write_text(_exposition(RECORD))
    code, out, _ = _cli("refit", str(page), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["strategy"] == CATALOG.routing.default_strategy
    assert result["threshold"] == 0.45 and result["requests"] == 102
    code, out, _ = _cli("refit", str(page))
    assert code == 0 and "0.45" in out and "record" in out


def test_route_refit_says_how_to_save_the_record_when_the_file_has_none(tmp_path: Path) -> None:
    page = tmp_path / "metrics.txt"
    page.write_text("# nothing here\nprocess_cpu_seconds_total 3.0\n")
    code, _, err = _cli("refit", str(page))
    assert code != 0
    assert "hybrid_need_requests" in err and "/metrics/" in err


def test_the_catalogs_curves_are_the_shipped_models() -> None:
    provenance = need.NeedModel.load().data["provenance"]
    shipped = provenance["gap_recovered_by_traffic"]
    routed = provenance["routed_share_by_traffic"]
    curves = CATALOG.routing.need_curves
    assert set(curves) == set(shipped) == set(routed) and CATALOG.routing.traffic in curves
    for kind, curve in curves.items():
        assert {f"{share:.2f}": pgr for share, pgr in curve.gap_recovered.items()} == shipped[kind]
        assert {f"{share:.2f}": v for share, v in curve.routed_share.items()} == routed[kind]


def test_the_router_share_comes_from_the_strategys_targets_and_the_tiers_models() -> None:
    targets = CATALOG.routing.need_shares[CATALOG.routing.default_strategy]
    with_complex = router_share(CATALOG, CATALOG.tier("2"))
    without = router_share(CATALOG, CATALOG.tier("1"))
    assert with_complex is not None and without is not None
    # What the thresholds for those targets route of the catalog's kind of traffic leaves the box.
    routed = CATALOG.routing.need_curves[str(CATALOG.routing.traffic)].routed_share
    assert with_complex.local_share == pytest.approx(1 - routed[targets["large"]])
    assert without.local_share == pytest.approx(1 - routed[targets["medium"]])
    assert "need_shares" in without.source and "alpaca_eval" in without.source
    load = tier_load(CATALOG, CATALOG.tier("1"), Workload(requests_per_day=10, complex_share=0))
    assert load.local_share == pytest.approx(without.local_share)  # the plan's cap


def test_the_cost_of_quality_reads_the_curve() -> None:
    curve = CATALOG.routing.need_curves["questions"]
    points = curve.gap_recovered
    assert gap_recovered(curve, 0.0) == 0.0 and gap_recovered(curve, 1.0) == 1.0
    assert gap_recovered(curve, 0.30) == pytest.approx(points[0.3])
    between = gap_recovered(curve, 0.325)
    assert between == pytest.approx((points[0.3] + points[0.35]) / 2)
    needed = cloud_for_quality(curve, 0.8)
    assert points[needed] >= 0.8
    assert all(pgr < 0.8 for share, pgr in points.items() if share < needed)


def test_the_cost_of_quality_follows_the_kind_of_traffic() -> None:
    tier = CATALOG.tier("1")
    default = router_share(CATALOG, tier)
    questions = router_share(CATALOG, tier, traffic="questions")
    assert default is not None and questions is not None
    assert default.traffic == CATALOG.routing.traffic == "open_requests"
    assert questions.traffic == "questions" and "MMLU" in questions.source
    # The thresholds are set for a share of MMLU's questions: other traffic crosses them more or
    # less often, and its cloud calls recover what its own curve says at that share.
    target = CATALOG.routing.need_shares[CATALOG.routing.default_strategy]["medium"]
    open_curve = CATALOG.routing.need_curves["open_requests"]
    assert questions.cloud_share == pytest.approx(target, abs=0.002)
    assert default.cloud_share == pytest.approx(open_curve.routed_share[target])
    assert default.local_share == pytest.approx(1 - default.cloud_share)
    assert default.gap_recovered == pytest.approx(gap_recovered(open_curve, default.cloud_share))
    assert questions.gap_recovered is not None and default.gap_recovered is not None
    assert questions.gap_recovered > default.gap_recovered
    with pytest.raises(InputError, match="did you mean 'questions'"):
        router_share(CATALOG, tier, traffic="question")


def test_recommend_takes_the_kind_of_traffic_and_refuses_an_unknown_one() -> None:
    runner = CliRunner()
    base = ["recommend", "--requests-per-day", "3000", "--json"]
    plans = {}
    for kind in ("open_requests", "questions"):
        done = runner.invoke(app, [*base, "--traffic", kind])
        assert done.exit_code == 0, done.output
        plans[kind] = json.loads(done.stdout)["hybrid"]["router"]
    assert plans["open_requests"]["traffic"] == "open_requests"
    assert plans["questions"]["gap_recovered"] > plans["open_requests"]["gap_recovered"]
    assert plans["open_requests"]["near_chance"] and not plans["questions"]["near_chance"]
    text = runner.invoke(app, ["recommend", "--requests-per-day", "3000"])
    assert "no better than a random pick" in " ".join(text.stdout.split())
    bad = runner.invoke(app, [*base, "--traffic", "chat_turns"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "open_requests" in bad.output
    empty = runner.invoke(app, [*base, "--traffic", ""])
    assert empty.exit_code == 2 and "--traffic" in empty.output


def test_a_kind_of_traffic_is_refused_where_the_catalog_measures_none() -> None:
    plain = CATALOG.model_copy(
        update={"routing": CATALOG.routing.model_copy(update={"need_curves": {}, "traffic": None})}
    )
    tier = plain.tier("1")
    share = router_share(plain, tier)
    assert share is not None and share.traffic is None and share.gap_recovered is None
    with pytest.raises(InputError, match="traffic 'questions' has no curve"):
        router_share(plain, tier, traffic="questions")
    with pytest.raises(InputError, match="traffic 'questions' has no curve"):
        recommend(plain, Workload(requests_per_day=100, traffic="questions"))


def test_recommend_states_where_its_local_share_comes_from() -> None:
    result = recommend(CATALOG, Workload(requests_per_day=20_000, complex_share=0.3))
    assert result.hybrid is not None and result.hybrid.router is not None
    assert result.hybrid.local_share <= result.hybrid.router.local_share + 1e-9
    assert result.hybrid.router.cloud_for_quality is not None


def test_a_follow_up_is_read_with_the_head_of_the_conversations_first_request() -> None:
    opening = "Write a Python function that merges two sorted lists. " * 100
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": opening},
        {"role": "assistant", "content": "def merge(a, b): ..."},
        {"role": "user", "content": [{"type": "text", "text": "Now shorter."}]},
    ]
    text = need.request_text(messages)
    assert text == opening[: need.HEAD_CHARS] + "\nNow shorter."
    assert need.request_text(messages[:2]) == opening
    assert need.request_text([{"role": "assistant", "content": "hi"}]) == ""
