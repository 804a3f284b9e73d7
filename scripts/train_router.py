#!/usr/bin/env python3
"""Train the gateway's need model from RouteLLM's public per-prompt results and measure it.

The data: RouteLLM (https://github.com/lm-sys/RouteLLM) publishes, per prompt, whether a weak
model (Mixtral-8x7B-Instruct) and a strong one (GPT-4-1106-preview) answered correctly:

- routellm/evals/mmlu/responses/mmlu_*.csv  (57 MMLU domains, 14,042 prompts)
- routellm/evals/gsm8k/gsm8k_responses.csv  (1,319 GSM8K math problems)

Get them with `git clone https://github.com/lm-sys/RouteLLM` and pass the clone (or any folder
holding those paths) as DATA. Columns used: prompt, mistralai/Mixtral-8x7B-Instruct-v0.1 (weak),
gpt-4-1106-preview (strong); files in the plain `prompt,weak,strong` form work too.

The model: logistic regression over hashed words and size signs (hybridctl/gateway/hook/need.py),
label (1 + strong - weak) / 2, trained on the MMLU prompts whose CRC-32 puts them in the
training split (the rest is held out); with --gsm8k-proxy also on GSM8K's training problems
(train.jsonl, which no model answered) labelled by their worked solution's length. An open
(not multiple-choice) quantity problem's three signs have set weights (PRIOR_WEIGHTS): no
labelled problem of that kind may be trained on. GSM8K's labelled test prompts and MT-Bench
(8 kinds: writing, roleplay, reasoning, math, coding, extraction, STEM, humanities; each turn
scored 1-10 by GPT-4 for both models) are never trained on, only measured: APGR with a 95%
bootstrap interval, MT-Bench also by kind and by turn. With --alpaca-eval, also measured (never
trained on): AlpacaEval's 805 open instructions (https://github.com/tatsu-lab/alpaca_eval), where
GPT-4 judged each small open model's answer against GPT-4 Turbo's (gpt-4-1106-preview, the strong
model here too). Writes the weights with their provenance and held-out scores to OUT (default:
the shipped model file).

Example: python scripts/train_router.py ~/src/RouteLLM --out hybridctl/gateway/hook/need_model.json
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime
import functools
import json
import math
import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hybridctl.gateway import route_eval  # noqa: E402
from hybridctl.gateway.hook import need  # noqa: E402

SOURCE = "https://github.com/lm-sys/RouteLLM"
MMLU_GLOB = "routellm/evals/mmlu/responses/mmlu_*.csv"
GSM8K_FILE = "routellm/evals/gsm8k/gsm8k_responses.csv"
GSM8K_TRAIN = "routellm/evals/gsm8k/train.jsonl"  # GSM8K's training split: no model's answers
MT_BENCH_QUESTIONS = "routellm/evals/mt_bench/question.jsonl"
MT_BENCH_JUDGEMENTS = "routellm/evals/mt_bench/judgements.jsonl"
ALPACA_EVAL_SOURCE = "https://github.com/tatsu-lab/alpaca_eval"
ALPACA_EVAL_ANNOTATIONS = "results/{model}/weighted_alpaca_eval_gpt4_turbo/annotations.json"
# Small open models of the size a box runs (1-7B parameters). Each annotation's `preference` is
# 1 + P(the model's answer is preferred over GPT-4 Turbo's); the strong model's quality is 0.5,
# its own answer against itself.
ALPACA_EVAL_WEAK = (
    "FuseChat-Llama-3.2-1B-Instruct",
    "gemma-2b-it",
    "gemma-7b-it",
    "OpenHermes-2.5-Mistral-7B",
)
ALPACA_EVAL_STRONG = 0.5
WEAK_COLUMNS = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "weak")
STRONG_COLUMNS = ("gpt-4-1106-preview", "strong")
DIMENSIONS = 2**15
HELD_OUT_PER_10 = 3  # a prompt whose CRC-32 mod 10 is below this is held out
EPOCHS = 3
LEARNING_RATE = 0.03
DENSE_RATE = 0.3  # the size signs are few and shared by every prompt: they learn faster
# GSM8K's training problems carry a worked solution, not a model's answer: a longer solution is
# a harder problem. Label = PROXY_LOW + PROXY_SPAN * (the solution length's quantile).
PROXY_LOW, PROXY_SPAN = 0.2, 0.6
L2 = 1e-5
# Fixed weights of an open (not multiple-choice) quantity problem's fractions, relations and size
# (need.dense_features' last three). No labelled open math problem may be trained on (GSM8K's
# labelled prompts are the test; its training problems have no model's answers), and MMLU's
# multiple-choice questions never show these signs, so they are set, not learned: half a unit
# of log-odds per doubling of fractions or relations ("half as many", "3 more than"), and one
# unit on the size against a typical word problem's (need.OPEN_SIZE_CENTER). Chosen with the
# GSM8K and MT-Bench results in view (docs/router.md has the sensitivity to these values).
PRIOR_WEIGHTS = (0.5, 0.5, 1.0)
DECIMALS = 2  # weights are rounded to this many decimals (the shipped file stays small)


def _column(fields: list[str], names: tuple[str, ...], path: Path) -> str:
    for name in names:
        if name in fields:
            return name
    sys.exit(f"{path}: none of the columns {', '.join(names)}; it has {', '.join(fields)}")


def _value(text: str) -> float:
    word = text.strip().lower()
    return {"true": 1.0, "false": 0.0}[word] if word in ("true", "false") else float(word)


def read_results(path: Path) -> list[route_eval.Prompt]:
    """Per-prompt correctness from a RouteLLM response file (or a prompt,weak,strong file)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        weak, strong = _column(fields, WEAK_COLUMNS, path), _column(fields, STRONG_COLUMNS, path)
        return [
            route_eval.Prompt(row["prompt"], _value(row[weak]), _value(row[strong]))
            for row in reader
        ]


def held_out(prompt: route_eval.Prompt) -> bool:
    return zlib.crc32(prompt.text.encode()) % 10 < HELD_OUT_PER_10


def target(prompt: route_eval.Prompt) -> float:
    """1 when only the strong model is right, 0 when only the weak one is, 0.5 when they agree."""
    return (1.0 + prompt.strong - prompt.weak) / 2


def read_gsm8k_train(path: Path) -> list[tuple[str, float]]:
    """GSM8K training problems, each labelled by its worked solution's length quantile."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    lengths = sorted(len(row["answer"]) for row in rows)
    return [
        (
            row["question"],
            PROXY_LOW + PROXY_SPAN * bisect.bisect_left(lengths, len(row["answer"])) / len(rows),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Turn:
    """One MT-Bench turn: its question, kind (category), turn number and both models' quality."""

    question: int
    category: str
    turn: int
    prompt: route_eval.Prompt


def read_mt_bench_turns(folder: Path) -> list[Turn]:
    """MT-Bench turns (the conversation's user messages up to that turn, as the hook reads
    them), each model's GPT-4 score / 10."""
    questions_path, judgements_path = folder / MT_BENCH_QUESTIONS, folder / MT_BENCH_JUDGEMENTS
    if not (questions_path.exists() and judgements_path.exists()):
        return []
    questions = [json.loads(line) for line in questions_path.read_text().splitlines() if line]
    scores: dict[tuple[int, int, str], float] = {}
    for line in judgements_path.read_text().splitlines():
        row = json.loads(line)
        turn = 2 if "multi-turn" in row["judge"][1] else 1
        scores[(row["question_id"], turn, row["model"])] = row["score"] / 10
    weak, strong = WEAK_COLUMNS[0], STRONG_COLUMNS[0]
    return [
        Turn(
            q["question_id"],
            q.get("category", "other"),
            turn,
            route_eval.Prompt(
                # As the hook reads a conversation: the first user message's head, then the last.
                need.request_text([{"role": "user", "content": t} for t in q["turns"][:turn]]),
                scores[(q["question_id"], turn, weak)],
                scores[(q["question_id"], turn, strong)],
            ),
        )
        for q in questions
        for turn in (1, 2)
        if (q["question_id"], turn, weak) in scores and (q["question_id"], turn, strong) in scores
    ]


@dataclass(frozen=True)
class Instruction:
    """One AlpacaEval instruction: its source set (helpful_base, koala, oasst, selfinstruct,
    vicuna) and each small model's chance of beating GPT-4 Turbo's answer to it."""

    text: str
    subset: str
    weak: dict[str, float]


def read_alpaca_eval(folder: Path) -> list[Instruction]:
    """AlpacaEval's instructions with every small model's judged preference found under folder."""
    instructions: dict[str, Instruction] = {}
    for name in ALPACA_EVAL_WEAK:
        path = folder / ALPACA_EVAL_ANNOTATIONS.format(model=name)
        if not path.exists():
            continue
        for row in json.loads(path.read_text(encoding="utf-8")):
            if row.get("preference") is None:  # the judge gave no answer
                continue
            text = row["instruction"]
            entry = instructions.setdefault(text, Instruction(text, row["dataset"], {}))
            entry.weak[name] = float(row["preference"]) - 1.0
    return list(instructions.values())


def alpaca_eval_scores(model: need.NeedModel, instructions: list[Instruction]) -> dict:
    """APGR against GPT-4 Turbo for each small model, and for their mean by source set."""
    names = [n for n in ALPACA_EVAL_WEAK if any(n in i.weak for i in instructions)]
    complete = [i for i in instructions if all(n in i.weak for n in names)]

    def prompts(rows: list[Instruction], names: list[str]) -> list[route_eval.Prompt]:
        return [
            route_eval.Prompt(
                i.text, sum(i.weak[n] for n in names) / len(names), ALPACA_EVAL_STRONG
            )
            for i in rows
        ]

    out: dict = {"models": {n: _public(evaluate(model, prompts(complete, [n]))) for n in names}}
    mean = evaluate(model, prompts(complete, names))
    out["mean_of_models"] = _public(mean)
    out["curve"] = gap_recovered_at_shares(prompts(complete, names), mean["scores"])
    out["subsets"] = {
        subset: _public(
            evaluate(model, prompts([i for i in complete if i.subset == subset], names))
        )
        for subset in sorted({i.subset for i in complete})
    }
    return out


@functools.cache
def _features(text: str) -> tuple[list[int], list[float]]:
    """A text's hashed features and dense signs, worked out once: cross-validation trains the
    same texts many times over (the lists are only read)."""
    return need.feature_ids(text, DIMENSIONS), need.dense_features(text)


def train(
    examples_in: list[tuple[str, float]],
    seed: int = 0,
    prior: tuple[float, ...] = PRIOR_WEIGHTS,
) -> tuple[list, list, float]:
    """Logistic regression (AdaGrad, L2) of "the weak answer is wrong" on hashed features; the
    last dense weights are the fixed `prior`."""
    examples = [(*_features(text), label) for text, label in examples_in]
    weights = [0.0] * DIMENSIONS
    squares = [1e-8] * DIMENSIONS
    learned = len(examples[0][1]) - need.PRIOR_FEATURES
    dense_weights = [0.0] * learned + list(prior)
    dense_squares = [1e-8] * len(dense_weights)
    bias, bias_square = 0.0, 1e-8
    rng = random.Random(seed)
    for _ in range(EPOCHS):
        rng.shuffle(examples)
        for ids, dense, label in examples:
            scale = 1.0 / math.sqrt(len(ids)) if ids else 0.0
            error = need.sigmoid(need.logit(ids, dense, weights, dense_weights, bias)) - label
            for i in ids:
                gradient = error * scale + L2 * weights[i]
                squares[i] += gradient * gradient
                weights[i] -= LEARNING_RATE * gradient / math.sqrt(squares[i])
            for j, x in enumerate(dense[:learned]):
                dense_squares[j] += (error * x) ** 2
                dense_weights[j] -= DENSE_RATE * error * x / math.sqrt(dense_squares[j])
            bias_square += error * error
            bias -= DENSE_RATE * error / math.sqrt(bias_square)
    return weights, dense_weights, bias


def _rounded(weights: list[float], dense_weights: list[float], bias: float) -> dict:
    """A linear part as the model file keeps it: non-zero weights, rounded."""
    return {
        "bias": round(bias, 4),
        "dense_weights": [round(w, 4) for w in dense_weights],
        "weights": {
            str(i): round(w, DECIMALS) for i, w in enumerate(weights) if round(w, DECIMALS)
        },
    }


def model_data(
    weights: list[float], dense_weights: list[float], bias: float, provenance: dict
) -> dict:
    return {
        "format": (
            "hashed words and size signs, logistic regression (hybridctl/gateway/hook/need.py)"
        ),
        "dimensions": DIMENSIONS,
        **_rounded(weights, dense_weights, bias),
        "provenance": provenance,
    }


BOOTSTRAP_ROUNDS = 1000
# Each kind of traffic the planner knows (tiers.yaml routing.need_curves), and the measured set
# whose held-out curve stands for it.
TRAFFIC_SETS = {
    "open_requests": "alpaca_eval",
    "conversations": "mt_bench",
    "questions": "mmlu_held_out",
    "word_problems": "gsm8k",
}


def evaluate(
    model: need.NeedModel, prompts: list[route_eval.Prompt], groups: list | None = None
) -> dict:
    """The model's APGR on prompts (see measure)."""
    return measure(prompts, [model.need(p.text) for p in prompts], groups)


def measure(
    prompts: list[route_eval.Prompt], scores: list[float], groups: list | None = None
) -> dict:
    """APGR with its 95% bootstrap interval (resampling `groups`, else prompts), and the gap."""
    curve = route_eval.gap_curve(prompts, scores)
    low, high = route_eval.bootstrap_interval(prompts, scores, groups, rounds=BOOTSTRAP_ROUNDS)
    return {
        "prompts": len(prompts),
        "apgr": round(route_eval.apgr(curve), 4),
        "ci95": [round(low, 3), round(high, 3)],
        "gap": round(sum(p.strong - p.weak for p in prompts) / len(prompts), 4),
        "scores": scores,
    }


SHARES = [share / 100 for share in range(5, 100, 5)]


def gap_recovered_at_shares(prompts: list[route_eval.Prompt], scores: list[float]) -> dict:
    """The cost-quality curve: the gap recovered at each strong-call share (5%, 10%, ...)."""
    curve = route_eval.gap_curve(prompts, scores)
    return {f"{share:.2f}": round(route_eval.at_share(curve, share).pgr, 2) for share in SHARES}


def _public(result: dict) -> dict:
    return {key: value for key, value in result.items() if key != "scores"}


def mt_bench_scores(turns: list[Turn], scores: dict[tuple[int, int], float]) -> dict:
    """MT-Bench overall, by kind, first and second (multi-turn) turns, from each turn's score
    (keyed by question and turn); intervals resample whole questions (both turns together)."""
    parts: dict[str, list[Turn]] = {"all": turns}
    for kind in sorted({t.category for t in turns}):
        parts[kind] = [t for t in turns if t.category == kind]
    parts["first_turns"] = [t for t in turns if t.turn == 1]
    parts["multi_turn"] = [t for t in turns if t.turn == 2]
    out = {}
    for name, part in parts.items():
        if part:
            prompts = [t.prompt for t in part]
            result = measure(
                prompts, [scores[(t.question, t.turn)] for t in part], [t.question for t in part]
            )
            out[name] = _public(result)
            if name == "all":
                out[name]["curve"] = gap_recovered_at_shares(prompts, result["scores"])
    return out


# The kind part of the model (need.py): a second logistic model over the same features, whose
# label is the mean weak-strong gap of the request's kind, not of the request itself. MT-Bench's
# turns teach it the kinds (writing, roleplay, reasoning, math, coding, extraction, STEM,
# humanities; by turn), and GSM8K's training problems (no model's answers), labelled by MT-Bench
# math's first turns' gap, that a word problem is one kind, so that it hardly reorders them. A
# multiple-choice question is one kind too, left to the request part (trained on MMLU's): the
# kind part gives each the log-odds of MMLU's mean gap.
KIND_REPEAT = 5  # each MT-Bench turn is seen this often per epoch: 160 turns against thousands
KIND_WORD_PROBLEMS = 2000  # GSM8K training problems in the kind part
KIND_SCALES = (1.0, 2.0, 4.0, 8.0)  # the kind part's weight beside the request's own need
CV_FOLDS = 5  # MT-Bench is measured by cross-validation over its questions, both turns together
CV_DEALS = 5  # ways the questions are dealt into folds: the first in order, then shuffled


def _kind_logit(gap: float) -> float:
    """The log-odds of a kind's label (1 + gap) / 2."""
    return math.log((1 + gap) / (1 - gap))


class KindPart:
    """The kind part trained on some MT-Bench turns: its log-odds for a text."""

    def __init__(self, turns: list[Turn], word_problems: list[str], question_gap: float) -> None:
        gaps: dict[tuple[str, int], list[float]] = {}
        for t in turns:
            gaps.setdefault((t.category, t.turn), []).append(t.prompt.strong - t.prompt.weak)
        mean = {key: sum(v) / len(v) for key, v in gaps.items()}
        word_problem_gap = mean.get(("math", 1), question_gap)  # a word problem opens a chat
        examples = [
            (t.prompt.text, (1 + mean[(t.category, t.turn)]) / 2) for t in turns
        ] * KIND_REPEAT + [(text, (1 + word_problem_gap) / 2) for text in word_problems]
        weights, dense_weights, bias = train(examples, prior=(0.0,) * need.PRIOR_FEATURES)
        self.data = {
            **_rounded(weights, dense_weights, bias),
            "multiple_choice_logit": round(_kind_logit(question_gap), 4),
        }

    def joined(self, model: need.NeedModel, scale: float) -> need.NeedModel:
        """The model with this kind part at a scale: scored exactly as the hook scores it."""
        return need.NeedModel({**model.data, "kind": {**self.data, "scale": scale}})


@dataclass(frozen=True)
class KindData:
    """What the kind part learns from beside MT-Bench."""

    word_problems: list[str]
    question_gap: float  # MMLU's mean gap on its training questions

    def part(self, turns: list[Turn]) -> KindPart:
        return KindPart(turns, self.word_problems, self.question_gap)


def kind_data(training: list[route_eval.Prompt], word_problems: list[str]) -> KindData:
    rng = random.Random(0)
    return KindData(
        word_problems=rng.sample(word_problems, min(KIND_WORD_PROBLEMS, len(word_problems))),
        question_gap=sum(p.strong - p.weak for p in training) / len(training),
    )


def _folds(turns: list[Turn], count: int, deal: int = 0) -> dict[int, int]:
    """Each question's fold, stratified by kind: each kind's questions in order (deal 0) or
    shuffled (seeded by the deal), dealt round, so every fold holds as many of each kind."""
    by_kind: dict[str, list[int]] = {}
    for t in turns:
        if t.question not in by_kind.setdefault(t.category, []):
            by_kind[t.category].append(t.question)
    rng = random.Random(deal)
    order = []
    for kind in sorted(by_kind):
        questions = sorted(by_kind[kind])
        if deal:
            rng.shuffle(questions)
        order.extend(questions)
    return {q: i % count for i, q in enumerate(order)}


def _out_of_fold(
    model: need.NeedModel, turns: list[Turn], data: KindData, count: int
) -> dict[tuple[int, int], float]:
    """Each turn's kind log-odds from a kind part trained without its question."""
    fold = _folds(turns, count)
    out = {}
    for k in range(count):
        joined = data.part([t for t in turns if fold[t.question] != k]).joined(model, 1.0)
        out.update(
            {
                (t.question, t.turn): joined.kind_logit(t.prompt.text)
                for t in turns
                if fold[t.question] == k
            }
        )
    return out


def choose_scale(
    model: need.NeedModel, turns: list[Turn], kind: dict[tuple[int, int], float]
) -> float:
    """The scale whose out-of-fold kind log-odds, added to the request part's, rank the turns
    best."""
    prompts = [t.prompt for t in turns]
    base = [model.request_logit(t.prompt.text) for t in turns]
    keys = [(t.question, t.turn) for t in turns]

    def score(scale: float) -> float:
        combined = [b + scale * kind[key] for b, key in zip(base, keys, strict=True)]
        return route_eval.apgr(route_eval.gap_curve(prompts, combined))

    return max(KIND_SCALES, key=score)


def cross_validated_mt_bench(
    model: need.NeedModel, turns: list[Turn], data: KindData, deal: int = 0
) -> tuple[dict[tuple[int, int], float], list[float]]:
    """Every MT-Bench turn scored by a model whose kind part (and scale, chosen by an inner
    cross-validation) never saw its question; and the scale each outer fold chose."""
    fold = _folds(turns, CV_FOLDS, deal)
    scores, chosen = {}, []
    for k in range(CV_FOLDS):
        training = [t for t in turns if fold[t.question] != k]
        scale = choose_scale(model, training, _out_of_fold(model, training, data, CV_FOLDS - 1))
        chosen.append(scale)
        joined = data.part(training).joined(model, scale)
        scores.update(
            {
                (t.question, t.turn): joined.need(t.prompt.text)
                for t in turns
                if fold[t.question] == k
            }
        )
    return scores, chosen


def turns_apgr(turns: list[Turn], scores: dict[tuple[int, int], float]) -> float:
    """APGR of MT-Bench turns by their scores (keyed by question and turn)."""
    prompts = [t.prompt for t in turns]
    return route_eval.apgr(
        route_eval.gap_curve(prompts, [scores[(t.question, t.turn)] for t in turns])
    )


@dataclass(frozen=True)
class KindFit:
    """The kind part fitted on all of MT-Bench, with MT-Bench scored by cross-validation."""

    section: dict  # the model file's "kind"
    provenance: dict
    scores: dict[tuple[int, int], float]  # every turn, by the nested cross-validation
    other_deals: list[dict[tuple[int, int], float]]  # the same with the questions dealt anew


def fit_kind(plain: need.NeedModel, turns: list[Turn], kinds: KindData) -> KindFit:
    """Cross-validate the kind part on MT-Bench (CV_DEALS deals), then fit it on all of it at
    the scale the cross-validation chooses. plain: the request part alone, as shipped."""
    scores, fold_scales = cross_validated_mt_bench(plain, turns, kinds)
    other_deals = [
        cross_validated_mt_bench(plain, turns, kinds, deal)[0] for deal in range(1, CV_DEALS)
    ]
    part = kinds.part(turns)
    scale = choose_scale(plain, turns, _out_of_fold(plain, turns, kinds, CV_FOLDS))
    provenance = {
        "label": "(1 + the mean strong - weak gap of the request's kind) / 2: MT-Bench's "
        "turns by kind and turn; GSM8K training problems (no model's answers) by MT-Bench's "
        "first math turns'; a multiple-choice question gets MMLU's (training questions), not "
        "the part",
        "mt_bench_turns": len(turns),
        "word_problems": len(kinds.word_problems),
        "scales": list(KIND_SCALES),
        "scale": scale,
        "how": f"the scale that ranks MT-Bench best by {CV_FOLDS}-fold cross-validation over "
        "its questions, stratified by kind; MT-Bench's scores are nested: each outer fold chose "
        "its own scale on its training questions alone",
        "cross_validated_scales": fold_scales,
    }
    return KindFit({**part.data, "scale": scale}, provenance, scores, other_deals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a RouteLLM clone (or a folder with its paths)")
    parser.add_argument("--out", type=Path, default=need.MODEL_FILE)
    parser.add_argument("--commit", default=None, help="the RouteLLM commit the data came from")
    parser.add_argument(
        "--gsm8k-proxy",
        action="store_true",
        help="also train on GSM8K's training problems labelled by their solution's length "
        "(off: it lowered every held-out score)",
    )
    parser.add_argument(
        "--alpaca-eval",
        type=Path,
        default=None,
        metavar="CLONE",
        help=f"also measure on AlpacaEval: a clone of {ALPACA_EVAL_SOURCE} (never trained on)",
    )
    parser.add_argument(
        "--alpaca-eval-commit", default=None, help="the AlpacaEval commit the data came from"
    )
    args = parser.parse_args(argv)
    mmlu_files = sorted(args.data.glob(MMLU_GLOB))
    if not mmlu_files:
        sys.exit(f"no {MMLU_GLOB} under {args.data}; clone {SOURCE} and pass the clone")
    mmlu = [p for f in mmlu_files for p in read_results(f)]
    gsm8k_path = args.data / GSM8K_FILE
    gsm8k = read_results(gsm8k_path) if gsm8k_path.exists() else []
    word_problems = read_gsm8k_train(args.data / GSM8K_TRAIN)
    gsm8k_train = word_problems if args.gsm8k_proxy else []
    mt_bench = read_mt_bench_turns(args.data)
    alpaca = read_alpaca_eval(args.alpaca_eval) if args.alpaca_eval else []
    if args.alpaca_eval and not alpaca:
        sys.exit(
            f"no {ALPACA_EVAL_ANNOTATIONS.format(model='MODEL')} for any of "
            f"{', '.join(ALPACA_EVAL_WEAK)} under {args.alpaca_eval}; clone {ALPACA_EVAL_SOURCE}"
        )
    training = [p for p in mmlu if not held_out(p)]
    test = [p for p in mmlu if held_out(p)]
    weights, dense_weights, bias = train([(p.text, target(p)) for p in training] + gsm8k_train)
    scores: dict = {"mmlu_held_out": {}, "gsm8k": {}, "mt_bench": {}}
    provenance = {
        "sources": [
            f"{SOURCE}/tree/main/{MMLU_GLOB}",
            *([f"{SOURCE}/blob/main/{GSM8K_TRAIN}"] if gsm8k_train else []),
            f"{SOURCE}/blob/main/{GSM8K_FILE}",
            f"{SOURCE}/blob/main/{MT_BENCH_JUDGEMENTS}",
            *([f"{ALPACA_EVAL_SOURCE}/tree/main/{ALPACA_EVAL_ANNOTATIONS}"] if alpaca else []),
        ],
        "weak_model": WEAK_COLUMNS[0],
        "strong_model": STRONG_COLUMNS[0],
        "source_commit": args.commit,
        **({"alpaca_eval_commit": args.alpaca_eval_commit} if alpaca else {}),
        "label": "(1 + strong - weak) / 2: 1 when only the strong model is right",
        "trained": datetime.date.today().isoformat(),
        "split": f"MMLU prompts with CRC-32(prompt) mod 10 >= {HELD_OUT_PER_10} trained on "
        f"({len(training)} of {len(mmlu)}); the rest held out; "
        + (
            f"GSM8K's {len(gsm8k_train)} training problems (no model's answers) labelled by "
            "their worked solution's length; "
            if gsm8k_train
            else ""
        )
        + "GSM8K's labelled test prompts"
        + (" and AlpacaEval" if alpaca else "")
        + " never trained on, only measured; MT-Bench measured by "
        f"{CV_FOLDS}-fold cross-validation over its questions (the kind part trained on the "
        f"other folds) (APGR with a 95% bootstrap interval, {BOOTSTRAP_ROUNDS} rounds; MT-Bench "
        "resampled by question)",
        "prior_weights": {
            "features": "open quantity problem: log2(1 + fractions), log2(1 + relations), "
            "size - size_center (the median over GSM8K's training problems, text only)",
            "weights": list(PRIOR_WEIGHTS),
            "size_center": need.OPEN_SIZE_CENTER,
            "how": "set, not learned (no labelled open math problem is trained on); chosen "
            "with the GSM8K and MT-Bench results in view, so those scores are optimistic",
        },
        "trained_prompts": len(training),
        "proxy_prompts": len(gsm8k_train),
        "scores": scores,
    }
    data = model_data(weights, dense_weights, bias, provenance)
    questions = len({t.question for t in mt_bench})
    fit = None
    if questions >= 2 * CV_FOLDS:
        kinds = kind_data(training, [text for text, _ in word_problems])
        fit = fit_kind(need.NeedModel(data), mt_bench, kinds)
        data["kind"], provenance["kind"] = fit.section, fit.provenance
    else:
        provenance["kind"] = {"why": f"{questions} MT-Bench questions: too few for a kind part"}
    model = need.NeedModel(data)  # measured as shipped: with the rounded weights
    if alpaca:
        scores["alpaca_eval"] = alpaca_eval_scores(model, alpaca)
    if mt_bench:
        shipped = {(t.question, t.turn): model.need(t.prompt.text) for t in mt_bench}
        parts = mt_bench_scores(mt_bench, fit.scores if fit else shipped)
        scores["mt_bench"] = {**parts.pop("all"), "parts": parts}
        if fit:
            # The same cross-validation with the questions dealt into folds in other ways.
            follow_ups = [t for t in mt_bench if t.turn == 2]
            scores["mt_bench"]["other_deals"] = {
                name: [round(turns_apgr(part, deal), 4) for deal in fit.other_deals]
                for name, part in (("all", mt_bench), ("multi_turn", follow_ups))
            }
        scores["mt_bench"]["as_shipped_trained_on_it"] = round(turns_apgr(mt_bench, shipped), 4)
    for name, prompts in (("mmlu_held_out", test), ("gsm8k", gsm8k)):
        if prompts:
            result = evaluate(model, prompts)
            scores[name] = {
                **_public(result),
                "curve": gap_recovered_at_shares(prompts, result["scores"]),
            }
            # The need at each strong-call share on held-out prompts: what policy thresholds use.
            if name == "mmlu_held_out":
                provenance["need_at_share"] = {
                    f"{share:.2f}": round(
                        route_eval.threshold_for_share(result["scores"], share), 4
                    )
                    for share in SHARES
                }
    # What the thresholds do elsewhere: at the need that sends a share of held-out MMLU
    # questions past the small model (what the policy's target shares set), the share of each
    # other set that goes too.
    sets = {
        "mmlu_held_out": [p.text for p in test],
        "gsm8k": [p.text for p in gsm8k],
        "mt_bench": [t.prompt.text for t in mt_bench],
        "alpaca_eval": [i.text for i in alpaca],
    }

    def crossing(texts: list[str], shares: list[str]) -> dict:
        needs = [model.need(text) for text in texts]
        thresholds = provenance.get("need_at_share", {})
        return {
            share: round(sum(n >= thresholds[share] for n in needs) / len(needs), 3)
            for share in shares
        }

    every_share = [f"{share:.2f}" for share in SHARES]
    provenance["routed_share_by_traffic"] = {
        kind: crossing(sets[name], every_share)
        for kind, name in TRAFFIC_SETS.items()
        if sets[name] and "need_at_share" in provenance
    }
    for name, texts in sets.items():
        if texts and name != "mmlu_held_out" and "need_at_share" in provenance:
            scores[name]["share_at_mmlu_thresholds"] = crossing(texts, ["0.30", "0.05"])
    if mt_bench and "need_at_share" in provenance:
        for kind in sorted({t.category for t in mt_bench}):
            texts = [t.prompt.text for t in mt_bench if t.category == kind]
            scores["mt_bench"]["parts"][kind]["share_at_mmlu_thresholds"] = crossing(
                texts, ["0.30", "0.05"]
            )
    # The cost-quality curve of each kind of traffic, as tiers.yaml routing.need_curves has it.
    provenance["gap_recovered_by_traffic"] = {
        kind: scores[name].pop("curve")
        for kind, name in TRAFFIC_SETS.items()
        if "curve" in scores.get(name, {})
    }
    args.out.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    summary = {"out": str(args.out), "kept_weights": len(data["weights"]), **scores}
    summary["gap_recovered_by_traffic"] = provenance["gap_recovered_by_traffic"]
    summary["routed_share_by_traffic"] = provenance["routed_share_by_traffic"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
