"""How well a router's scores pick the requests that need the strong model: APGR and its curve.

Pure functions over per-prompt results (the weak and the strong model's quality, 0-1, and the
router's score). APGR, the average performance gap recovered over all strong-call shares, is the
measure of RouteLLM (https://github.com/lm-sys/RouteLLM, "RouteLLM: Learning to Route LLMs with
Preference Data"): a random router scores 0.5, a perfect one close to 1.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import InputError
from hybridctl.gateway.hook.need import NeedModel

COLUMNS = ("prompt", "weak", "strong")
_TRUE = {"true": 1.0, "yes": 1.0}
_FALSE = {"false": 0.0, "no": 0.0}


@dataclass(frozen=True)
class Prompt:
    """One row of an evaluation file: the prompt and each model's quality on it (0-1)."""

    text: str
    weak: float
    strong: float


@dataclass(frozen=True)
class CurvePoint:
    """Sending the top `strong_share` of prompts (by score) to the strong model recovers `pgr`."""

    strong_share: float
    pgr: float
    threshold: float  # send to the strong model at or above this score


def _quality(value: str, line: int, column: str, path: Path) -> float:
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return {**_TRUE, **_FALSE}[text]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InputError(
            f"{path}, line {line}: column {column!r} is {value!r}, not a number",
            hint="Give each model's quality as 0/1, true/false or a score such as 0.75.",
        )
    return number


def read_prompts(path: Path) -> list[Prompt]:
    """The rows of a CSV file with the columns prompt, weak, strong (a clear error otherwise)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path} lacks the column(s) {', '.join(missing)}; "
                    f"it has: {', '.join(reader.fieldnames or []) or 'none'}",
                    hint="The first line must name the columns: prompt,weak,strong",
                )
            rows = [
                Prompt(
                    text=row["prompt"] or "",
                    weak=_quality(row["weak"] or "", reader.line_num, "weak", path),
                    strong=_quality(row["strong"] or "", reader.line_num, "strong", path),
                )
                for row in reader
            ]
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path} is not a UTF-8 CSV file: {error}") from None
    if not rows:
        raise InputError(f"{path} has no rows", hint="Add one line per prompt under the header.")
    return rows


def gap_curve(prompts: list[Prompt], scores: list[float]) -> list[CurvePoint]:
    """PGR after each group of equal scores, highest score first, from share 0 to 1.

    Prompts with equal scores go together (a router cannot tell them apart), so between two
    points the curve is the straight line a random order within the group would give on average.
    """
    n = len(prompts)
    weak_total = sum(p.weak for p in prompts)
    gap = sum(p.strong for p in prompts) - weak_total
    order = sorted(range(n), key=lambda i: -scores[i])
    points = [CurvePoint(0.0, 0.0, math.inf)]
    gained = 0.0
    for position, index in enumerate(order):
        gained += prompts[index].strong - prompts[index].weak
        last = position == n - 1
        if last or scores[order[position + 1]] != scores[index]:
            pgr = gained / gap if gap else 0.0
            points.append(CurvePoint((position + 1) / n, pgr, scores[index]))
    return points


def apgr(points: list[CurvePoint]) -> float:
    """The area under the PGR curve over strong-call shares 0-1 (0.5 for a random router)."""
    area = 0.0
    for before, after in itertools.pairwise(points):
        area += (after.strong_share - before.strong_share) * (before.pgr + after.pgr) / 2
    return area


def bootstrap_interval(
    prompts: list[Prompt],
    scores: list[float],
    groups: list[Any] | None = None,
    *,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of APGR: prompts (or whole groups of them, such as the
    turns of one conversation) drawn with replacement, `rounds` times; rounds whose resample
    has no gap between the models are left out."""
    keys = groups if groups is not None else list(range(len(prompts)))
    members: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        members.setdefault(key, []).append(index)
    clusters = list(members.values())
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        drawn = [i for _ in clusters for i in rng.choice(clusters)]
        sample = [prompts[i] for i in drawn]
        if sum(p.strong - p.weak for p in sample) <= 0:
            continue
        values.append(apgr(gap_curve(sample, [scores[i] for i in drawn])))
    if not values:
        return (math.nan, math.nan)
    values.sort()
    tail = (1 - level) / 2
    low = values[min(len(values) - 1, int(tail * len(values)))]
    high = values[min(len(values) - 1, int((1 - tail) * len(values)))]
    return (low, high)


def at_share(points: list[CurvePoint], share: float) -> CurvePoint:
    """The point of the curve whose strong-call share is nearest `share` at or above it."""
    for point in points:
        if point.strong_share >= share - 1e-12:
            return point
    return points[-1]


def at_threshold(prompts: list[Prompt], scores: list[float], threshold: float) -> CurvePoint:
    """The operating point of a threshold: prompts scoring at or above it go to the strong model."""
    strong = [i for i, score in enumerate(scores) if score >= threshold]
    gap = sum(p.strong - p.weak for p in prompts)
    gained = sum(prompts[i].strong - prompts[i].weak for i in strong)
    return CurvePoint(len(strong) / len(prompts), gained / gap if gap else 0.0, threshold)


def threshold_for_share(scores: list[float], share: float) -> float:
    """The score threshold that sends about `share` of these prompts to the strong model."""
    ordered = sorted(scores, reverse=True)
    count = max(1, min(len(ordered), round(share * len(ordered))))
    return ordered[count - 1]


CURVE_SHARES = (0.1, 0.2, 0.3, 0.5, 0.7)
TARGET_PGR = 0.8  # the cost of quality: the strong-call share that recovers this much of the gap


def policy_threshold(policy: dict[str, Any], strategy: str | None = None) -> tuple[str, float]:
    """(strategy, need threshold) at which the rendered policy sends a request past local."""
    strategy = strategy or str(policy["default_strategy"])
    thresholds = (policy.get("need") or {}).get("thresholds", {})
    if strategy not in thresholds:
        known = ", ".join(sorted(thresholds)) or "none"
        raise InputError(
            f"the policy has no need threshold for strategy {strategy!r}",
            hint=f"Strategies with one: {known}.",
        )
    return strategy, float(thresholds[strategy]["medium"])


def evaluate(
    prompts: list[Prompt], model: NeedModel, policy: dict[str, Any], target_share: float
) -> dict[str, Any]:
    """APGR, the cost-quality curve, the policy's operating point and a threshold for a share."""
    scores = [model.need(p.text) for p in prompts]
    curve = gap_curve(prompts, scores)
    strategy, threshold = policy_threshold(policy)
    point = at_threshold(prompts, scores, threshold)
    quality = next((p for p in curve if p.pgr >= TARGET_PGR), curve[-1])
    return {
        "prompts": len(prompts),
        "weak_quality": sum(p.weak for p in prompts) / len(prompts),
        "strong_quality": sum(p.strong for p in prompts) / len(prompts),
        "apgr": apgr(curve),
        "strategy": strategy,
        "threshold": threshold,
        "strong_share": point.strong_share,
        "pgr": point.pgr,
        "curve": [
            {"strong_share": share, "pgr": at_share(curve, share).pgr} for share in CURVE_SHARES
        ],
        "share_for_target_pgr": {"pgr": TARGET_PGR, "strong_share": quality.strong_share},
        "suggested": {
            "strong_share": target_share,
            "threshold": threshold_for_share(scores, target_share),
        },
        "scores": scores,
    }
