"""The need model, APGR and `hybridctl route eval` on a small fixture of per-prompt results."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.gateway.hook import need
from hybridctl.gateway.policy import need_policy, need_thresholds
from hybridctl.gateway.route_eval import (
    Prompt,
    apgr,
    at_threshold,
    bootstrap_interval,
    gap_curve,
    read_prompts,
)
from tests.router_fixtures import handler as _handler
from tests.router_fixtures import pre_call as _pre_call
from tests.router_fixtures import request as _request
from tests.router_fixtures import user as _user

REPO = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "route_eval_sample.csv"
_SPEC = importlib.util.spec_from_file_location("train_router", REPO / "scripts" / "train_router.py")
assert _SPEC is not None and _SPEC.loader is not None
train_router = sys.modules.setdefault("train_router", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(train_router)


def _prompts(*rows: tuple[float, float]) -> list[Prompt]:
    return [Prompt(f"p{i}", weak, strong) for i, (weak, strong) in enumerate(rows)]


def test_apgr_of_a_perfect_a_reversed_and_a_tied_router() -> None:
    prompts = _prompts((0, 1), (1, 1), (1, 1), (0, 1))  # two of four gain from the strong model
    perfect = apgr(gap_curve(prompts, [0.9, 0.1, 0.2, 0.8]))
    reversed_ = apgr(gap_curve(prompts, [0.1, 0.9, 0.8, 0.2]))
    tied = apgr(gap_curve(prompts, [0.5, 0.5, 0.5, 0.5]))
    # Perfect: PGR 0, 1/2, 1, 1, 1 at shares 0..1 -> area 0.25*(0.25 + 0.75 + 1 + 1) = 0.75.
    assert perfect == pytest.approx(0.75)
    assert reversed_ == pytest.approx(0.25)
    assert tied == pytest.approx(0.5)  # one group: the straight line of a random order


def test_operating_point_counts_the_prompts_at_or_above_the_threshold() -> None:
    prompts = _prompts((0, 1), (1, 1), (1, 0), (0, 1))
    point = at_threshold(prompts, [0.9, 0.7, 0.7, 0.1], 0.7)
    assert point.strong_share == 0.75
    assert point.pgr == pytest.approx((1 + 0 - 1) / 1)  # gap: 3 strong - 2 weak = 1


def test_the_need_model_reads_a_bounded_share_of_a_long_text() -> None:
    tail = " integral" * 50
    huge = "word " * 200_000 + tail
    assert need.bounded(huge).endswith(tail)
    assert len(need.bounded(huge)) <= need.HEAD_CHARS + need.TAIL_CHARS + 1
    # Only the bounded share is read: a text changed in its middle scores the same.
    model = need.NeedModel.load()
    assert model.need(huge) == model.need(
        "word " * 100_000 + "poem " * 1_000 + "word " * 99_000 + tail
    )
    assert 0.0 < model.need(huge) < 1.0


def test_the_shipped_model_is_small_and_states_its_provenance() -> None:
    assert need.MODEL_FILE.stat().st_size < 1_000_000
    data = json.loads(need.MODEL_FILE.read_text())
    provenance = data["provenance"]
    assert any("github.com/lm-sys/RouteLLM" in s for s in provenance["sources"])
    scores = provenance["scores"]
    assert scores["mmlu_held_out"]["apgr"] >= 0.62  # the goals, as measured when trained
    assert scores["gsm8k"]["apgr"] >= 0.62
    assert scores["mt_bench"]["apgr"] > 0.5 and len(scores["mt_bench"]["ci95"]) == 2
    assert {"coding", "extraction", "writing", "multi_turn"} <= set(scores["mt_bench"]["parts"])
    assert provenance["proxy_prompts"] == 0 and "set, not learned" in str(
        provenance["prior_weights"]
    )
    assert "held out" in provenance["split"]
    assert {"0.05", "0.30", "0.95"} <= set(provenance["need_at_share"])


def test_thresholds_follow_the_target_shares() -> None:
    at_share = {"0.05": 0.9, "0.20": 0.7, "0.30": 0.6, "0.50": 0.5}
    targets = {"local_first": {"medium": 0.3, "large": 0.05}, "cost_optimized": {"medium": 0.2}}
    thresholds = need_thresholds(at_share, targets)
    assert thresholds["local_first"] == {"medium": 0.6, "large": 0.9}
    assert thresholds["cost_optimized"] == {"medium": 0.7}


def test_the_policy_takes_each_strategys_target_shares_from_the_catalog() -> None:
    routing = load_catalog().routing
    assert routing.need_shares, "tiers.yaml routing.need_shares"
    changed = routing.model_copy(update={"need_shares": {"local_first": {"medium": 0.5}}})
    policy = need_policy(changed)
    assert policy["target_shares"] == {"local_first": {"medium": 0.5}}
    at_share = need.NeedModel.load().data["provenance"]["need_at_share"]
    assert policy["thresholds"] == {"local_first": {"medium": at_share["0.50"]}}
    shipped = need_policy(routing)
    assert set(shipped["thresholds"]) == {str(s) for s in routing.need_shares}


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["route", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_route_eval_json_carries_the_scores_in_file_order() -> None:
    code, out, _ = _cli("eval", str(SAMPLE), "--json")
    assert code == 0
    result = json.loads(out)
    prompts = read_prompts(SAMPLE)
    model = need.NeedModel.load()
    assert result["scores"] == pytest.approx([model.need(p.text) for p in prompts])
    assert result["apgr"] == pytest.approx(apgr(gap_curve(prompts, result["scores"])))
    policy_point = at_threshold(prompts, result["scores"], result["threshold"])
    assert (result["strong_share"], result["pgr"]) == pytest.approx(
        (policy_point.strong_share, policy_point.pgr)
    )
    suggested = result["suggested"]
    share = sum(s >= suggested["threshold"] for s in result["scores"]) / len(prompts)
    assert share == pytest.approx(0.3, abs=1 / len(prompts))


def test_route_eval_prints_apgr_curve_and_operating_point() -> None:
    code, out, _ = _cli("eval", str(SAMPLE), "--tier", "1", "--share", "0.2")
    assert code == 0
    for words in ("APGR", "random router scores 0.500", "cost-quality curve", "tier 1",
                  "strategy local_first", "for 20% strong calls"):  # fmt: skip
        assert words in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("prompt,weak\nhi,1\n", "lacks the column(s) strong"),
        ("prompt,weak,strong\nhi,yes please,1\n", "line 2: column 'weak' is 'yes please'"),
        ("prompt,weak,strong\n", "has no rows"),
    ],
)
def test_route_eval_bad_input_is_exit_2_without_a_traceback(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "results.csv"
    if content is not None:
        path.write_text(content)
    code, out, err = _cli("eval", str(path))
    assert code == 2
    assert message in err and "Traceback" not in out + err


def test_route_with_an_unknown_subcommand_is_exit_2_and_suggests_one() -> None:
    code, _, err = _cli("fit", str(SAMPLE))
    assert code == 2 and "No such command 'fit'. Did you mean 'refit'?" in err


def _routellm_folder(root: Path, questions: list[dict] | None = None) -> Path:
    """The fixture written in RouteLLM's file layout and column names (MT-Bench: `questions`,
    each {question_id, category, turns}, or two of them)."""
    rows = list(csv.DictReader(SAMPLE.open()))
    header = ["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]
    mmlu = root / "routellm/evals/mmlu/responses"
    mmlu.mkdir(parents=True)
    gsm8k = root / "routellm/evals/gsm8k"
    gsm8k.mkdir(parents=True)
    for path, part in (
        (mmlu / "mmlu_sample.csv", rows),
        (gsm8k / "gsm8k_responses.csv", rows[:12]),
    ):
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in part:
                writer.writerow([row["prompt"], row["weak"] == "1", row["strong"] == "1"])
    # GSM8K's training problems: a worked solution, no model's answer (the proxy label).
    train = [{"question": f"Tom has {n} apples and buys {n} more. How many?", "answer": "x" * n}
             for n in range(2, 12)]  # fmt: skip
    (gsm8k / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train))
    # MT-Bench: two questions of two turns, each turn of both models scored by a judge.
    bench = root / "routellm/evals/mt_bench"
    bench.mkdir(parents=True)
    questions = questions or [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
        {"question_id": 119, "category": "math", "turns": ["Solve 3x + 2 = 11.", "And 4x?"]},
    ]
    (bench / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    judgements = [
        {"question_id": q["question_id"], "model": model, "judge": ["gpt-4", judge], "score": score}
        for q in questions
        for judge in ("single-v1", "single-v1-multi-turn")
        for model, score in ((header[1], 8 if q["category"] == "writing" else 3), (header[2], 9))
    ]
    (bench / "judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))
    return root


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the training script with these arguments (the data folder first)."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train_router.py"), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_training_script_writes_a_model_the_hook_can_load(tmp_path: Path) -> None:
    data = _routellm_folder(tmp_path / "RouteLLM")
    out = tmp_path / "model.json"
    done = _train(str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    model = need.NeedModel.load(out)
    provenance = model.data["provenance"]
    held_out = provenance["scores"]["mmlu_held_out"]
    assert summary["mmlu_held_out"] == held_out
    assert held_out["prompts"] + provenance["trained_prompts"] == 36
    assert provenance["scores"]["gsm8k"]["prompts"] == 12
    assert provenance["proxy_prompts"] == 0  # GSM8K's training problems only when asked
    assert provenance["prior_weights"]["weights"] == list(train_router.PRIOR_WEIGHTS)
    assert model.dense_weights[-need.PRIOR_FEATURES :] == list(train_router.PRIOR_WEIGHTS)
    bench = provenance["scores"]["mt_bench"]
    assert bench["prompts"] == 4  # two questions x two turns
    assert summary["mt_bench"] == bench
    # By kind and by turn, each with its bootstrap interval (questions resampled whole).
    assert set(bench["parts"]) == {"writing", "math", "first_turns", "multi_turn"}
    assert all(part["prompts"] == 2 for part in bench["parts"].values())
    assert len(bench["ci95"]) == 2 and len(provenance["scores"]["gsm8k"]["ci95"]) == 2
    # The cost-quality curve of each kind of traffic measured (no AlpacaEval here).
    curves = provenance["gap_recovered_by_traffic"]
    assert set(curves) == {"conversations", "questions", "word_problems"}
    assert all(len(curve) == 19 for curve in curves.values())
    assert summary["gap_recovered_by_traffic"] == curves
    assert 0.0 <= held_out["apgr"] <= 1.0
    assert len(provenance["need_at_share"]) == 19
    assert all(0 < model.need(row.text) < 1 for row in read_prompts(SAMPLE))


def test_training_script_learns_the_kind_part_and_cross_validates_mt_bench(
    tmp_path: Path,
) -> None:
    # Ten questions: writing (the weak model scores 8, the strong 9) and coding (3 and 9).
    subjects = ("lighthouse", "harbour", "winter", "garden", "river")
    questions = [
        {"question_id": 100 + i, "category": "writing",
         "turns": [f"Write a short poem about a {s}.", "Make it rhyme."]}
        for i, s in enumerate(subjects)
    ] + [
        {"question_id": 200 + i, "category": "coding",
         "turns": [f"Write a Python function that parses a {s} log file.", "Add unit tests."]}
        for i, s in enumerate(subjects)
    ]  # fmt: skip
    data = _routellm_folder(tmp_path / "RouteLLM", questions)
    out = tmp_path / "model.json"
    done = _train(str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    model = need.NeedModel.load(out)
    provenance = model.data["provenance"]
    kind = provenance["kind"]
    assert kind["scale"] in train_router.KIND_SCALES == tuple(kind["scales"])
    assert model.data["kind"]["scale"] == kind["scale"] == model.kind_scale
    # Nested: each of the five outer folds chose its own scale; all 20 turns were scored.
    assert len(kind["cross_validated_scales"]) == train_router.CV_FOLDS
    assert provenance["scores"]["mt_bench"]["prompts"] == 20
    # The same cross-validation with the questions dealt into folds in four other ways.
    deals = provenance["scores"]["mt_bench"]["other_deals"]
    assert [len(deals[name]) for name in ("all", "multi_turn")] == [train_router.CV_DEALS - 1] * 2
    # Per kind, the share the MMLU-set thresholds send past the small model.
    parts = provenance["scores"]["mt_bench"]["parts"]
    assert set(parts["coding"]["share_at_mmlu_thresholds"]) == {"0.30", "0.05"}
    assert "as_shipped_trained_on_it" in provenance["scores"]["mt_bench"]
    # A multiple-choice question is MMLU's kind: the log-odds of MMLU's mean training gap.
    rows = list(csv.DictReader(SAMPLE.open()))
    training = [r for r in rows if not train_router.held_out(Prompt(r["prompt"], 0, 0))]
    gap = sum(int(r["strong"]) - int(r["weak"]) for r in training) / len(training)
    assert model.multiple_choice_logit == pytest.approx(math.log((1 + gap) / (1 - gap)), abs=1e-4)
    # The kind part learned which kind of request the weak model falls short on.
    code = "Write a Python function that parses a config file."
    poem = "Write a short poem about a mountain."
    assert model.need(code) > model.need(poem)


def test_mt_bench_folds_hold_as_many_of_each_kind_in_every_deal() -> None:
    turns = [
        train_router.Turn(q, kind, turn, Prompt(f"{kind} {q}", 0.0, 1.0))
        for kind, first in (("coding", 100), ("writing", 200))
        for q in range(first, first + 10)
        for turn in (1, 2)
    ]
    deals = [train_router._folds(turns, 5, deal) for deal in range(3)]
    for fold in deals:
        assert set(fold) == {t.question for t in turns}
        for kind in ("coding", "writing"):
            counts = [sum(1 for q in {t.question for t in turns if t.category == kind}
                          if fold[q] == k) for k in range(5)]  # fmt: skip
            assert counts == [2] * 5
    assert deals[0] != deals[1] != deals[2]


def test_a_multiple_choice_question_gets_its_kinds_log_odds_from_the_kind_part() -> None:
    data = {
        "dimensions": 16, "bias": 0.1, "dense_weights": [0.0] * 9, "weights": {"3": 0.5},
        "kind": {"scale": 2.0, "bias": 1.0, "dense_weights": [0.0] * 9, "weights": {"3": 4.0},
                 "multiple_choice_logit": -0.25},
    }  # fmt: skip
    model = need.NeedModel(data)
    plain = need.NeedModel({k: v for k, v in data.items() if k != "kind"})
    question = "Which is larger?\nA. 9\nB. 11\nC. 10\nD. 8"
    assert need.multiple_choice(question) and not need.multiple_choice("Which is larger, 9 or 11?")
    assert plain.request_logit(question) == model.request_logit(question)
    own = model.request_logit(question)
    assert model.need(question) == pytest.approx(need.sigmoid(own + 2.0 * -0.25))
    # An open request gets the kind part's own log-odds, at the file's scale.
    text = "Which is larger, 9 or 11?"
    ids = need.feature_ids(text, 16)
    kind = need.logit(ids, need.dense_features(text), model.kind_weights, [0.0] * 9, 1.0)
    assert model.need(text) == pytest.approx(need.sigmoid(model.request_logit(text) + 2 * kind))


def test_training_script_takes_gsm8k_training_problems_only_when_asked(tmp_path: Path) -> None:
    data = _routellm_folder(tmp_path / "RouteLLM")
    out = tmp_path / "model.json"
    done = _train(str(data), "--out", str(out), "--gsm8k-proxy")
    assert done.returncode == 0, done.stderr
    provenance = need.NeedModel.load(out).data["provenance"]
    assert provenance["proxy_prompts"] == 10  # GSM8K's training problems, no model labels
    assert any(source.endswith("train.jsonl") for source in provenance["sources"])


def _alpaca_eval_folder(root: Path) -> Path:
    """Two of the small models' AlpacaEval annotations, in the repository's layout: each
    instruction's judged preference of the model's answer over GPT-4 Turbo's (1 to 2)."""
    rows = list(csv.DictReader(SAMPLE.open()))[:10]
    for name, offset in (("gemma-2b-it", 0.0), ("FuseChat-Llama-3.2-1B-Instruct", 0.3)):
        folder = root / "results" / name / "weighted_alpaca_eval_gpt4_turbo"
        folder.mkdir(parents=True)
        annotations = [
            {
                "instruction": row["prompt"],
                "dataset": "vicuna" if i % 2 else "oasst",
                # The judge gives no preference for one instruction of one model: left out.
                "preference": None if (i, offset) == (3, 0.0) else 1.0 + offset + 0.05 * i,
            }
            for i, row in enumerate(rows)
        ]
        (folder / "annotations.json").write_text(json.dumps(annotations))
    return root


def test_training_script_measures_alpaca_eval_without_training_on_it(tmp_path: Path) -> None:
    data = _routellm_folder(tmp_path / "RouteLLM")
    alpaca = _alpaca_eval_folder(tmp_path / "alpaca_eval")
    out = tmp_path / "model.json"
    plain = tmp_path / "plain.json"
    for target, extra in ((out, ["--alpaca-eval", str(alpaca)]), (plain, [])):
        done = _train(str(data), "--out", str(target), *extra)
        assert done.returncode == 0, done.stderr
    model = need.NeedModel.load(out)
    measured = model.data["provenance"]["scores"]["alpaca_eval"]
    assert set(measured["models"]) == {"gemma-2b-it", "FuseChat-Llama-3.2-1B-Instruct"}
    # Only the instructions both models were judged on; the strong model is GPT-4 Turbo (0.5).
    assert all(part["prompts"] == 9 for part in measured["models"].values())
    assert measured["models"]["gemma-2b-it"]["gap"] == pytest.approx(0.5 - 2.1 / 9, abs=1e-4)
    assert measured["mean_of_models"]["prompts"] == 9
    assert set(measured["subsets"]) == {"oasst", "vicuna"}
    assert "open_requests" in model.data["provenance"]["gap_recovered_by_traffic"]
    assert "AlpacaEval never trained on" in model.data["provenance"]["split"].replace(",", "")
    # Measured only: the weights are those of the run without it.
    assert model.data["weights"] == need.NeedModel.load(plain).data["weights"]
    missing = _train(str(data), "--out", str(out), "--alpaca-eval", str(tmp_path))
    assert missing.returncode != 0 and "github.com/tatsu-lab/alpaca_eval" in missing.stderr


def test_a_bootstrap_interval_holds_the_apgr_and_resamples_whole_groups() -> None:
    rows = [Prompt(str(i), 0.0, 1.0 if i % 3 == 0 else 0.0) for i in range(60)]
    perfect = [1.0 if row.strong else 0.0 for row in rows]
    low, high = bootstrap_interval(rows, perfect, rounds=200)
    assert low <= apgr(gap_curve(rows, perfect)) <= high and low > 0.7
    assert bootstrap_interval(rows, perfect, rounds=200) == (low, high)  # seeded
    noise = [float((i * 7) % 11) for i in range(60)]
    low, high = bootstrap_interval(rows, noise, [i // 2 for i in range(60)], rounds=200)
    assert low < apgr(gap_curve(rows, noise)) < high
    no_gap = [Prompt("x", 1.0, 1.0)] * 3
    assert all(math.isnan(v) for v in bootstrap_interval(no_gap, [0.0] * 3, rounds=10))


def test_training_script_names_the_source_when_the_folder_is_wrong(tmp_path: Path) -> None:
    done = _train(str(tmp_path))
    assert done.returncode != 0
    assert "github.com/lm-sys/RouteLLM" in done.stderr


def test_the_hook_sends_a_request_the_need_model_flags_past_the_small_model(
    hook: ModuleType,
) -> None:
    handler = _handler(hook)
    model = handler.need_model
    threshold = handler.policy["need"]["thresholds"]["local_first"]["medium"]
    rows = read_prompts(SAMPLE)
    flagged = max(rows, key=lambda row: model.need(row.text))
    calm = min(rows, key=lambda row: model.need(row.text))
    assert model.need(flagged.text) >= threshold > model.need(calm.text)
    high = _pre_call(handler, _request([_user(flagged.text)]))
    low = _pre_call(handler, _request([_user(calm.text)]))
    assert high["metadata"]["hybrid_route"] != "local" or high["model"] != "local"
    assert "need" in high["metadata"]["hybrid_reason"]
    assert low["model"] == "local" and low["metadata"]["hybrid_route"] == "local"
