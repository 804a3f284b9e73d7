"""How likely a request's local answer is not good enough: a linear model over hashed words.

Standard library only: the renderer copies this module into the gateway's router/ folder as
hybrid_need.py, beside its weights (hybrid_need_model.json), and `route eval` and
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

MODEL_FILE = Path(__file__).with_name("need_model.json")
# A request's kind shows in its first words and its question at its end; the middle of a long
# text adds little, and a client cannot buy CPU time with a longer prompt.
HEAD_CHARS = 2048
TAIL_CHARS = 1024
_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def bounded(text: str) -> str:
    """The start and the end of a text longer than HEAD_CHARS + TAIL_CHARS."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def feature_names(text: str) -> list[str]:
    """The words of a text (its bounded share), every number as "0"."""
    words = _TOKEN.findall(bounded(text).lower())
    words = ["0" if w[0].isdigit() else w for w in words]
    return ["w:" + w for w in words]


def dense_features(text: str) -> list[float]:
    """Size signs every request has, on a log scale: characters, numbers, lines."""
    head = bounded(text)
    return [
        math.log2(len(text) + 1) / 10,
        math.log2(len(_NUMBER.findall(head)) + 1) / 4,
        math.log2(head.count("\n") + 1) / 4,
    ]


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
    """A trained model: probability that the local (weak) model's answer is not good enough."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.dimensions = int(data["dimensions"])
        self.bias = float(data["bias"])
        self.dense_weights = [float(w) for w in data["dense_weights"]]
        self.weights = [0.0] * self.dimensions
        for index, value in data["weights"].items():
            self.weights[int(index)] = float(value)

    @classmethod
    def load(cls, path: Path | str = MODEL_FILE) -> NeedModel:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def need(self, text: str) -> float:
        """P(the local answer to this text is not good enough), 0-1."""
        ids = feature_ids(text, self.dimensions)
        dense = dense_features(text)
        return sigmoid(logit(ids, dense, self.weights, self.dense_weights, self.bias))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def request_text(messages: list[dict[str, Any]]) -> str:
    """The last user message's text: the request the answer has to meet."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""
