"""How likely a request's local answer is not good enough: a linear model over hashed words.

Standard library only: it is part of the gateway hook package, which the renderer copies into
the bundle with its weights (need_model.json beside it), and `route eval` and
scripts/train_router.py use the same code, so the box scores exactly as it was measured.
Linear in the text, and it reads at most HEAD_CHARS + TAIL_CHARS of it.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

from .scoring import message_text

MODEL_FILE = Path(__file__).with_name("need_model.json")
# A request's kind shows in its first words and its question at its end; the middle of a long
# text adds little, and a client cannot buy CPU time with a longer prompt.
HEAD_CHARS = 2048
TAIL_CHARS = 1024
_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z]+")
# A text with this many numbers is a quantity problem: its words get their own weights (the same
# word says something else in a math word problem than in an essay question).
NUMERIC_MIN = 2
# Quantities written as words count as numbers ("three apples", "half as many", "a dozen").
_NUMBER_WORD_LIST = (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty hundred thousand million dozen half twice double triple"
)
_NUMBER_WORDS = frozenset(_NUMBER_WORD_LIST.split())
# Words that chain one quantity to the next: the steps of a multi-step problem.
_STEP_WORDS = re.compile(
    r"\b(?:half|twice|third|quarter|fourth|fifth|percent|times|each|per|every|remaining|rest"
    r"|more|less|fewer|total|left)\b"
)
# A multiple-choice question lists its options, one a line ("A. 9", "(B) 11").
_CHOICE = re.compile(r"(?m)^\(?[A-E][.)]\s")
# What makes a quantity problem hard for a small model, beyond its size: fractions and
# relations between quantities ("3 more than twice as many", "half as old as").
_FRACTION = re.compile(r"\d+/\d+|\b(?:half|halves|third|thirds|quarter|quarters|fraction)\b")
_RELATION = re.compile(
    r"\b(?:more|less|fewer|older|younger|longer|shorter|taller|faster|slower|cheaper)\s+than\b"
    r"|\btimes\s+(?:as|more|less)\b|\bas\s+(?:many|much|long|old)\b"
)
# The open quantity problem's signs (the last three dense features) have fixed weights in the
# model file: no labelled open problem may be trained on (see scripts/train_router.py).
PRIOR_FEATURES = 3
# An open problem's size is read against a typical grade-school word problem's (the median of
# log2(characters + 1) / 10 over GSM8K's 7,473 training problems, text only): the sign ranks
# word problems among themselves without lifting every one of them past the policy's thresholds.
OPEN_SIZE_CENTER = 0.78


BUCKETS = 20  # the gateway counts requests per need band of this width: 0.00, 0.05, ... 0.95


def need_bucket(need: float) -> str:
    """The need band a score falls in, by its lower bound ("0.55" holds 0.55 <= need < 0.60)."""
    band = min(BUCKETS - 1, max(0, int(need * BUCKETS)))
    return f"{band / BUCKETS:.2f}"


def bounded(text: str) -> str:
    """The start and the end of a text longer than HEAD_CHARS + TAIL_CHARS."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def feature_names(text: str) -> list[str]:
    """The words of a text (its bounded share), every number as "0"; "m:" in a quantity problem."""
    words = _TOKEN.findall(bounded(text).lower())
    numbers = sum(1 for w in words if w[0].isdigit() or w in _NUMBER_WORDS)
    words = ["0" if w[0].isdigit() else w for w in words]
    prefix = "m:" if numbers >= NUMERIC_MIN else "w:"
    return [prefix + w for w in words]


def dense_features(text: str, choice: bool | None = None) -> list[float]:
    """Size signs on a log scale (characters, numbers, lines), a quantity problem's size; then
    an open (not multiple-choice) quantity problem's fractions, relations and size. choice:
    whether the text is multiple choice, where the caller knows already."""
    head = bounded(text)
    lower = head.lower()
    size = math.log2(len(text) + 1) / 10
    numbers = len(_NUMBER.findall(head))
    quantities = numbers + sum(1 for w in _WORD.findall(lower) if w in _NUMBER_WORDS)
    numeric = 1.0 if quantities >= NUMERIC_MIN else 0.0
    steps = len(_STEP_WORDS.findall(lower)) if numeric else 0
    if choice is None:
        choice = len(_CHOICE.findall(head)) >= 2
    open_problem = 0.0 if choice else numeric
    fractions = len(_FRACTION.findall(lower)) if open_problem else 0
    relations = len(_RELATION.findall(lower)) if open_problem else 0
    return [
        size,
        math.log2(numbers + 1) / 4,
        math.log2(head.count("\n") + 1) / 4,
        numeric,
        numeric * size,
        math.log2(steps + 1) / 4,
        math.log2(fractions + 1),
        math.log2(relations + 1),
        open_problem * (size - OPEN_SIZE_CENTER),
    ]


def multiple_choice(text: str) -> bool:
    """Whether a text lists answer options, one a line ("A. 9", "(B) 11")."""
    return len(_CHOICE.findall(bounded(text))) >= 2


def feature_ids(text: str, dimensions: int) -> list[int]:
    """The distinct hashed feature indices of a text (CRC-32 modulo a power of two)."""
    mask = dimensions - 1
    return sorted({zlib.crc32(name.encode()) & mask for name in feature_names(text)})


def logit(
    ids: list[int],
    dense: list[float],
    weights: list[float],
    dense_weights: list[float],
    bias: float,
) -> float:
    """The model's log-odds: hashed features (each counts once, scaled by 1/sqrt(n)) + dense."""
    total = bias + sum(w * x for w, x in zip(dense_weights, dense, strict=True))
    if ids:
        total += sum(weights[i] for i in ids) / math.sqrt(len(ids))
    return total


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    odds = math.exp(value)
    return odds / (1.0 + odds)


class NeedModel:
    """A trained model: probability that the local (weak) model's answer is not good enough.

    Two linear parts over the same features: the need of this request (trained on per-prompt
    results), and, where the file has one, the need of its *kind* (trained on each kind's mean
    result: writing, coding, extraction, ...), added at the file's `scale`.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.dimensions = int(data["dimensions"])
        self.bias = float(data["bias"])
        self.dense_weights = [float(w) for w in data["dense_weights"]]
        self.weights = _dense_vector(data["weights"], self.dimensions)
        kind = data.get("kind")
        self.kind_scale = float(kind["scale"]) if kind else 0.0
        self.kind_bias = float(kind["bias"]) if kind else 0.0
        self.kind_dense_weights = [float(w) for w in kind["dense_weights"]] if kind else []
        self.kind_weights = _dense_vector(kind["weights"], self.dimensions) if kind else []
        # A multiple-choice question is one kind, whose need the request part ranks: the kind
        # part gives every such question the same log-odds.
        self.multiple_choice_logit = float(kind["multiple_choice_logit"]) if kind else 0.0

    @classmethod
    def load(cls, path: Path | str = MODEL_FILE) -> NeedModel:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def _features(self, text: str) -> tuple[list[int], list[float], bool]:
        choice = multiple_choice(text)
        return feature_ids(text, self.dimensions), dense_features(text, choice), choice

    def request_logit(self, text: str) -> float:
        """The first part's log-odds alone: the need of this request, not of its kind."""
        ids, dense, _ = self._features(text)
        return logit(ids, dense, self.weights, self.dense_weights, self.bias)

    def kind_logit(self, text: str) -> float:
        """The kind part's log-odds alone (unscaled): a multiple-choice question gets its kind's."""
        ids, dense, choice = self._features(text)
        return self._kind(ids, dense, choice)

    def _kind(self, ids: list[int], dense: list[float], choice: bool) -> float:
        if choice:
            return self.multiple_choice_logit
        return logit(ids, dense, self.kind_weights, self.kind_dense_weights, self.kind_bias)

    def need(self, text: str) -> float:
        """P(the local answer to this text is not good enough), 0-1."""
        ids, dense, choice = self._features(text)
        total = logit(ids, dense, self.weights, self.dense_weights, self.bias)
        if self.kind_scale:
            total += self.kind_scale * self._kind(ids, dense, choice)
        return sigmoid(total)


def _dense_vector(weights: dict[str, Any], dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for index, value in weights.items():
        vector[int(index)] = float(value)
    return vector


def _user_message(messages: list[dict[str, Any]], order: Any) -> int | None:
    for index in order:
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            return index
    return None


def request_text(messages: list[dict[str, Any]]) -> str:
    """The request the answer has to meet: the last user message, after the head of the first
    when there are several (a follow-up such as "Now shorter." keeps the conversation's task)."""
    last = _user_message(messages, range(len(messages) - 1, -1, -1))
    if last is None:
        return ""
    first = _user_message(messages, range(last))
    text = message_text(messages[last].get("content"))
    if first is None:
        return text
    return message_text(messages[first].get("content"))[:HEAD_CHARS] + "\n" + text
