"""Read and check a bench plan (PLAN.json): what to measure, and with which settings."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import defaults

_MODEL_KEYS = {
    "name",
    "path",
    "uri",
    "sha256",
    "quantization",
    "promised_tokens_per_s",
    "memory_budget_mib",
}
_PLAN_KEYS = {
    "models",
    "repetitions",
    "prompt_tokens",
    "gen_tokens",
    "threads",
    "tier",
    "batch_size",
    "ubatch_size",
    "timeout_s",
    "measure_bandwidth",
    "models_dir",
    "repack",
    "parallel_slots",
    "flash_attn",
    "kv_type",
}
KV_TYPES = defaults.KV_TYPES


class PlanError(ValueError):
    """The plan is malformed (exit 2)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: str | None = None
    uri: str | None = None
    sha256: str | None = None
    quantization: str | None = None
    promised_tokens_per_s: float | None = None
    memory_budget_mib: float | None = None


@dataclass(frozen=True)
class Plan:
    models: list[ModelEntry]
    repetitions: int = defaults.REPETITIONS
    prompt_tokens: int = defaults.PROMPT_TOKENS
    gen_tokens: int = defaults.GEN_TOKENS
    threads: int | None = defaults.THREADS
    tier: str | None = None
    batch_size: int = defaults.BATCH_SIZE
    ubatch_size: int = defaults.UBATCH_SIZE
    timeout_s: float = defaults.TIMEOUT_S
    measure_bandwidth: bool = defaults.MEASURE_BANDWIDTH
    models_dir: str | None = None
    repack: bool = defaults.REPACK
    parallel_slots: int = defaults.PARALLEL_SLOTS
    flash_attn: bool | None = defaults.FLASH_ATTN
    kv_type: str = defaults.KV_TYPE
    warnings: list[str] = field(default_factory=list)

    @property
    def context_tokens(self) -> int:
        """As llama-bench: the context holds one prompt or one generation run."""
        return max(self.prompt_tokens, self.gen_tokens + 1, defaults.MIN_CONTEXT_TOKENS)

    def settings(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "repetitions": self.repetitions,
            "prompt_tokens": self.prompt_tokens,
            "gen_tokens": self.gen_tokens,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "ubatch_size": self.ubatch_size,
            "context_tokens": self.context_tokens,
            "repack": self.repack,
            "parallel_slots": self.parallel_slots,
            "flash_attn": self.flash_attn,
            "kv_type": self.kv_type,
        }


def _number(value: Any, where: str, *, integer: bool, minimum: float) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where} must be a number, got {value!r}")
    if integer and not float(value).is_integer():
        raise PlanError(f"{where} must be a whole number, got {value!r}")
    if value < minimum:
        raise PlanError(f"{where} must be at least {minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _model(raw: Any, index: int, warnings: list[str]) -> ModelEntry:
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        raise PlanError(f"{where} must be an object")
    for key in sorted(set(raw) - _MODEL_KEYS):
        warnings.append(f"{where}: unknown key {key!r} ignored")
    name = _text(raw.get("name"), f"{where}.name")
    if name is None:
        raise PlanError(f"{where}.name is required")
    path, uri = _text(raw.get("path"), f"{where}.path"), _text(raw.get("uri"), f"{where}.uri")
    if path is None and uri is None:
        raise PlanError(f"{where} ({name}) needs a path or a uri")
    sha256 = _text(raw.get("sha256"), f"{where}.sha256")
    if sha256 is not None and (len(sha256) != 64 or set(sha256.lower()) - set("0123456789abcdef")):
        raise PlanError(f"{where}.sha256 must be 64 hex digits")
    return ModelEntry(
        name=name,
        path=path,
        uri=uri,
        sha256=sha256.lower() if sha256 else None,
        quantization=_text(raw.get("quantization"), f"{where}.quantization"),
        promised_tokens_per_s=_number(
            raw.get("promised_tokens_per_s"),
            f"{where}.promised_tokens_per_s",
            integer=False,
            minimum=0,
        ),
        memory_budget_mib=_number(
            raw.get("memory_budget_mib"), f"{where}.memory_budget_mib", integer=False, minimum=0
        ),
    )


def parse_plan(raw: Any) -> Plan:
    if not isinstance(raw, dict):
        raise PlanError("the plan must be a JSON object with a 'models' list")
    warnings = [f"unknown plan key {key!r} ignored" for key in sorted(set(raw) - _PLAN_KEYS)]
    models_raw = raw.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise PlanError("the plan needs a non-empty 'models' list")
    models = [_model(item, i, warnings) for i, item in enumerate(models_raw)]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise PlanError(f"model names must be unique, got {names}")

    def get(key: str, default: Any, *, integer: bool = True, minimum: float = 1) -> Any:
        value = _number(raw.get(key), key, integer=integer, minimum=minimum)
        return default if value is None else value

    measure_bandwidth = raw.get("measure_bandwidth", defaults.MEASURE_BANDWIDTH)
    repack = raw.get("repack", defaults.REPACK)
    if not isinstance(measure_bandwidth, bool) or not isinstance(repack, bool):
        raise PlanError("measure_bandwidth and repack must be true or false")
    flash_attn = raw.get("flash_attn", defaults.FLASH_ATTN)
    kv_type = raw.get("kv_type", defaults.KV_TYPE)
    if flash_attn is not None and not isinstance(flash_attn, bool):
        raise PlanError("flash_attn must be true, false or null (llama.cpp's auto)")
    if kv_type not in KV_TYPES:
        raise PlanError(f"kv_type must be one of {', '.join(KV_TYPES)}, got {kv_type!r}")
    if kv_type != "f16" and flash_attn is False:
        raise PlanError("a quantized kv_type needs flash attention (flash_attn true or null)")
    return Plan(
        models=models,
        repetitions=get("repetitions", defaults.REPETITIONS),
        prompt_tokens=get("prompt_tokens", defaults.PROMPT_TOKENS, minimum=0),
        gen_tokens=get("gen_tokens", defaults.GEN_TOKENS),
        threads=get("threads", defaults.THREADS),
        tier=None if raw.get("tier") is None else str(raw.get("tier")),
        batch_size=get("batch_size", defaults.BATCH_SIZE),
        ubatch_size=get("ubatch_size", defaults.UBATCH_SIZE),
        timeout_s=get("timeout_s", defaults.TIMEOUT_S, integer=False),
        measure_bandwidth=measure_bandwidth,
        models_dir=_text(raw.get("models_dir"), "models_dir"),
        repack=repack,
        parallel_slots=get("parallel_slots", defaults.PARALLEL_SLOTS),
        flash_attn=flash_attn,
        kv_type=kv_type,
        warnings=warnings,
    )


def load_plan(path: Path | str) -> Plan:
    """Read PLAN.json ('-' for stdin); raises PlanError with what is wrong."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror or exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"plan {path} is not valid JSON: {exc}") from exc
    return parse_plan(raw)
