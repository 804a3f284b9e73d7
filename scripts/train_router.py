#!/usr/bin/env python3
"""Train the gateway's need model from RouteLLM's public per-prompt results and measure it.

The data: RouteLLM (https://github.com/lm-sys/RouteLLM) publishes, per prompt, whether a weak
model (Mixtral-8x7B-Instruct) and a strong one (GPT-4-1106-preview) answered correctly:

- routellm/evals/mmlu/responses/mmlu_*.csv  (57 MMLU domains, 14,042 prompts)
- routellm/evals/gsm8k/gsm8k_responses.csv  (1,319 GSM8K math problems)

Get them with `git clone https://github.com/lm-sys/RouteLLM` and pass the clone (or any folder
holding those paths) as DATA. Columns used: prompt, mistralai/Mixtral-8x7B-Instruct-v0.1 (weak),
gpt-4-1106-preview (strong); files in the plain `prompt,weak,strong` form work too.

The model: logistic regression over hashed words and size signs (hybridctl/gateway/need.py),
label (1 + strong - weak) / 2, trained on the MMLU prompts whose CRC-32 puts them in the
training split (the rest is held out); GSM8K is never trained on, only measured. Writes the
weights with their provenance and held-out APGR to OUT (default: the shipped model file).

Example: python scripts/train_router.py ~/src/RouteLLM --out hybridctl/gateway/need_model.json
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import random
import sys
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hybridctl.gateway import need, route_eval  # noqa: E402

SOURCE = "https://github.com/lm-sys/RouteLLM"
MMLU_GLOB = "routellm/evals/mmlu/responses/mmlu_*.csv"
GSM8K_FILE = "routellm/evals/gsm8k/gsm8k_responses.csv"
WEAK_COLUMNS = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "weak")
STRONG_COLUMNS = ("gpt-4-1106-preview", "strong")
DIMENSIONS = 2**15
HELD_OUT_PER_10 = 3  # a prompt whose CRC-32 mod 10 is below this is held out
EPOCHS = 3
LEARNING_RATE = 0.03
L2 = 1e-5
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


def train(prompts: list[route_eval.Prompt], seed: int = 0) -> tuple[list[float], float]:
    """Logistic regression (AdaGrad, L2) of "the weak answer is wrong" on hashed features."""
    examples = [
        (need.feature_ids(p.text, DIMENSIONS), need.dense_features(p.text), target(p))
        for p in prompts
    ]
    weights = [0.0] * DIMENSIONS
    squares = [1e-8] * DIMENSIONS
    dense_weights = [0.0] * len(examples[0][1])
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
            for j, x in enumerate(dense):
                dense_squares[j] += (error * x) ** 2
                dense_weights[j] -= LEARNING_RATE * error * x / math.sqrt(dense_squares[j])
            bias_square += error * error
            bias -= LEARNING_RATE * error / math.sqrt(bias_square)
    return weights, dense_weights, bias


def model_data(
    weights: list[float], dense_weights: list[float], bias: float, provenance: dict
) -> dict:
    kept = {str(i): round(w, DECIMALS) for i, w in enumerate(weights) if round(w, DECIMALS)}
    return {
        "format": "hashed words and size signs, logistic regression (hybridctl/gateway/need.py)",
        "dimensions": DIMENSIONS,
        "bias": round(bias, 4),
        "dense_weights": [round(w, 4) for w in dense_weights],
        "weights": kept,
        "provenance": provenance,
    }


def evaluate(model: need.NeedModel, prompts: list[route_eval.Prompt]) -> dict:
    scores = [model.need(p.text) for p in prompts]
    curve = route_eval.gap_curve(prompts, scores)
    return {
        "prompts": len(prompts),
        "apgr": round(route_eval.apgr(curve), 4),
        "scores": scores,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a RouteLLM clone (or a folder with its paths)")
    parser.add_argument("--out", type=Path, default=need.MODEL_FILE)
    parser.add_argument("--commit", default=None, help="the RouteLLM commit the data came from")
    args = parser.parse_args(argv)
    mmlu_files = sorted(args.data.glob(MMLU_GLOB))
    if not mmlu_files:
        sys.exit(f"no {MMLU_GLOB} under {args.data}; clone {SOURCE} and pass the clone")
    mmlu = [p for f in mmlu_files for p in read_results(f)]
    gsm8k_path = args.data / GSM8K_FILE
    gsm8k = read_results(gsm8k_path) if gsm8k_path.exists() else []
    training = [p for p in mmlu if not held_out(p)]
    test = [p for p in mmlu if held_out(p)]
    weights, dense_weights, bias = train(training)
    scores = {"mmlu_held_out": {}, "gsm8k": {}}
    provenance = {
        "sources": [f"{SOURCE}/tree/main/{MMLU_GLOB}", f"{SOURCE}/blob/main/{GSM8K_FILE}"],
        "weak_model": WEAK_COLUMNS[0],
        "strong_model": STRONG_COLUMNS[0],
        "source_commit": args.commit,
        "label": "(1 + strong - weak) / 2: 1 when only the strong model is right",
        "trained": datetime.date.today().isoformat(),
        "split": f"MMLU prompts with CRC-32(prompt) mod 10 >= {HELD_OUT_PER_10} trained on "
        f"({len(training)} of {len(mmlu)}); the rest held out; GSM8K never trained on",
        "trained_prompts": len(training),
        "scores": scores,
    }
    data = model_data(weights, dense_weights, bias, provenance)
    model = need.NeedModel(data)  # measured as shipped: with the rounded weights
    for name, prompts in (("mmlu_held_out", test), ("gsm8k", gsm8k)):
        if prompts:
            result = evaluate(model, prompts)
            scores[name] = {"prompts": result["prompts"], "apgr": result["apgr"]}
            # The need at each strong-call share on held-out prompts: what policy thresholds use.
            if name == "mmlu_held_out":
                provenance["need_at_share"] = {
                    f"{share / 100:.2f}": round(
                        route_eval.threshold_for_share(result["scores"], share / 100), 4
                    )
                    for share in range(5, 100, 5)
                }
    args.out.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    print(json.dumps({"out": str(args.out), "kept_weights": len(data["weights"]), **scores}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
