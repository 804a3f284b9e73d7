"""Catalog → bench plan (what to measure, what was promised); bench result → table and verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.errors import InputError
from hybridctl.paths import not_a_file

DEFAULT_REPETITIONS = 5
DEFAULT_PROMPT_TOKENS = 512
DEFAULT_GEN_TOKENS = 128


@dataclass(frozen=True)
class ModelFile:
    """A local GGUF file to bench, optionally standing in for a catalog model (ID=PATH)."""

    path: Path
    model_id: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ModelFile:
        model_id, sep, path_text = spec.partition("=")
        if not sep:
            model_id, path_text = "", spec
        path = Path(path_text).expanduser()
        problem = not_a_file(path)
        if problem:
            raise InputError(
                f"model file {path} {problem}",
                hint="Give a GGUF file with --model PATH (or --model CATALOG_ID=PATH to bench a "
                "local copy of a catalog model against its promises).",
            )
        return cls(path=path, model_id=model_id or None)


def model_budgets_mib(catalog: Catalog, tier: Tier) -> dict[str, float]:
    """Each model's share of the memory the tier leaves for models, in proportion to its need."""
    from hybridctl.catalog.sizing import tier_memory_budget

    budget = tier_memory_budget(catalog, tier)
    total = budget.models_total_mib
    if total <= 0:
        return {}
    return {
        name: round(budget.models_pool_mib * need / total, 1)
        for name, need in budget.models_mib.items()
    }


def _settings(
    repetitions: int, prompt_tokens: int, gen_tokens: int, threads: int | None
) -> dict[str, Any]:
    if repetitions < 1:
        raise InputError(f"--repetitions must be at least 1, got {repetitions}")
    if prompt_tokens < 0 or gen_tokens < 1:
        raise InputError(
            f"--prompt-tokens must be >= 0 and --gen-tokens >= 1, got {prompt_tokens} and "
            f"{gen_tokens}"
        )
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    return {
        "repetitions": repetitions,
        "prompt_tokens": prompt_tokens,
        "gen_tokens": gen_tokens,
        "threads": threads,
    }


def build_plan(
    catalog: Catalog | None,
    tier: Tier | None,
    model_files: list[ModelFile],
    *,
    repetitions: int = DEFAULT_REPETITIONS,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    gen_tokens: int = DEFAULT_GEN_TOKENS,
    threads: int | None = None,
) -> dict[str, Any]:
    """The bench plan (PLAN.json) for a tier's models, local model files, or both.

    With a tier, every model of the tier is benched against its promised tokens/s and its
    share of the tier's memory; a file given as CATALOG_ID=PATH stands in for that model's
    download. Files without an id are benched with no promise (figures only).
    """
    if tier is None and not model_files:
        raise InputError(
            "nothing to bench", hint="Pass --tier T (the tier's models) or --model PATH."
        )
    for model_file in model_files:
        check_gguf(model_file.path)
    plan: dict[str, Any] = {
        "models": [],
        **_settings(repetitions, prompt_tokens, gen_tokens, threads),
        "tier": tier.id if tier else None,
        # Measure what the box runs: the tier's repacking setting, as its model server uses it.
        "repack": tier.weight_repacking if tier else True,
        **(server_settings(tier) if tier else {}),
    }
    local_copies = {f.model_id: f.path for f in model_files if f.model_id}
    if tier is not None:
        assert catalog is not None
        budgets = model_budgets_mib(catalog, tier)
        tier_ids = [entry.model for entry in tier.models]
        for model_id in local_copies:
            if model_id not in tier_ids:
                raise InputError(
                    f"--model {model_id}=... names a model tier {tier.id} does not serve",
                    hint=f"Tier {tier.id} serves: {', '.join(tier_ids)}.",
                )
        for entry in tier.models:
            model = catalog.models[entry.model]
            local = local_copies.get(entry.model)
            # A local copy keeps the catalog's checksum only when it is the catalog's file; a
            # stand-in (e.g. a synthetic model of the same shape) is benched without one.
            same_file = local is not None and model.sha256 == file_sha256(local)
            plan["models"].append(
                {
                    "name": entry.model,
                    "path": str(local.resolve()) if local else None,
                    "uri": None if local else model.uri,
                    "sha256": model.sha256 if (local is None or same_file) else None,
                    "quantization": model.quantization,
                    "promised_tokens_per_s": entry.promised_tokens_per_s,
                    "memory_budget_mib": budgets.get(entry.model),
                }
            )
    elif local_copies:
        unknown = ", ".join(local_copies)
        raise InputError(
            f"--model {unknown}=PATH binds a file to a catalog model, which needs --tier",
            hint="Add --tier T, or pass the plain file path to bench it without promises.",
        )
    for model_file in model_files:
        if model_file.model_id:
            continue
        plan["models"].append(
            {
                "name": _unique_name(model_file.path.stem, plan["models"]),
                "path": str(model_file.path.resolve()),
                "uri": None,
                "sha256": None,
                "quantization": _quantization_from_name(model_file.path.name),
                "promised_tokens_per_s": None,
                "memory_budget_mib": None,
            }
        )
    return plan


def server_settings(tier: Tier) -> dict[str, Any]:
    """The model server's settings the bench reproduces: parallel slots, and the tuned ones
    (threads stay the bench's: --threads, else the machine's cores)."""
    from hybridctl.catalog.sizing import served_parallel_slots, served_repacking

    settings: dict[str, Any] = {
        "parallel_slots": served_parallel_slots(tier),
        "repack": served_repacking(tier),
    }
    if tier.tuning is not None:
        settings.update(
            batch_size=tier.tuning.batch_size,
            ubatch_size=tier.tuning.ubatch_size,
            flash_attn=tier.tuning.flash_attn,
            kv_type=tier.tuning.kv_cache_type,
        )
    return settings


GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """Refuse a file that does not start with the GGUF magic (a key, a text file, a safetensors)."""
    try:
        with path.open("rb") as stream:
            magic = stream.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise InputError(f"model file {path} cannot be read: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise InputError(
            f"model file {path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})",
            hint="Give a llama.cpp GGUF model file with --model (e.g. model.Q4_K_M.gguf).",
        )


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def catalog_files(plan: dict[str, Any], catalog: Catalog) -> set[str]:
    """Plan entries that bench the catalog's own file: downloaded from its URI, or checksummed."""
    names = set()
    for entry in plan.get("models", []):
        model = catalog.models.get(entry.get("name"))
        if model is None:
            continue
        if entry.get("uri") == model.uri or (
            entry.get("sha256") is not None and entry.get("sha256") == model.sha256
        ):
            names.add(entry["name"])
    return names


def _unique_name(base: str, models: list[dict[str, Any]]) -> str:
    taken = {m["name"] for m in models}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


_QUANT = re.compile(
    r"(?i)(?:^|[._-])((?:I?Q\d_[A-Z0-9_]+?|Q\d_\d|TQ\d_\d|F16|BF16|F32))(?:\.gguf)?$"
)


def _quantization_from_name(file_name: str) -> str | None:
    """The quantization a GGUF file's name announces (model.Q4_K_M.gguf → Q4_K_M), if any."""
    match = _QUANT.search(file_name)
    return match.group(1).upper() if match else None


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def result_table(result: dict[str, Any]) -> Any:
    """A rich Table of a bench RESULT: one row per model, every figure with its spread."""
    from rich.table import Table

    settings = result.get("settings", {})
    title = (
        f"bench: {settings.get('repetitions', '?')} reps, pp {settings.get('prompt_tokens', '?')}"
        f" / tg {settings.get('gen_tokens', '?')} tokens, {settings.get('threads', '?')} threads"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("model", overflow="fold")
    table.add_column("status")
    columns = ("load s", "tg tok/s", "promised", "pp tok/s", "model MiB", "est. MiB", "budget")
    for column in (*columns, "roofline"):
        table.add_column(column, justify="right")
    table.add_column("verdict", min_width=5)
    for row in result.get("rows", []):
        verdict = row.get("verdict", {})
        gen = (row.get("generation") or {}).get("tokens_per_s") or {}
        pp = (row.get("prompt") or {}).get("tokens_per_s") or {}
        memory = row.get("memory") or {}
        fraction = (row.get("roofline") or {}).get("fraction")
        status = row.get("status", "?")
        if status == "ok" and row.get("repack") is False:
            status = "ok (no repack)"
        table.add_row(
            str(row.get("name")),
            status,
            _fmt(row.get("load_s"), ".2f"),
            f"{gen['mean']:.2f} ± {gen['stddev']:.2f}" if gen.get("mean") is not None else "-",
            _fmt(verdict.get("promised_tokens_per_s"), "g"),
            f"{pp['mean']:.1f} ± {pp['stddev']:.1f}" if pp.get("mean") is not None else "-",
            _fmt(memory.get("model_rss_mib") or memory.get("peak_rss_mib"), ".0f"),
            _fmt(_model_estimate(memory), ".0f"),
            _fmt(memory.get("budget_mib"), ".0f"),
            "-" if fraction is None else f"{100 * fraction:.0f}%",
            "[green]holds[/]" if verdict.get("ok") else "[red]short[/]",
        )
    return table


def _model_estimate(memory: dict[str, Any]) -> float | None:
    """The estimate of the model's own memory (without the bench process), beside model MiB."""
    estimate = memory.get("estimate_mib") or {}
    if estimate.get("total_mib") is None:
        return None
    return float(estimate["total_mib"]) - float(estimate.get("overhead_mib") or 0)


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """Plain verdict lines: what holds, what falls short and by how much (rich markup)."""
    lines = []
    for row in result.get("rows", []):
        verdict = row.get("verdict", {})
        if not verdict.get("ok"):
            continue
        measured = verdict.get("measured_tokens_per_s")
        promised = verdict.get("promised_tokens_per_s")
        what = f"{measured:.2f} tokens/s" if measured is not None else "ran"
        if promised is not None:
            what += f" ≥ promised {promised:g}"
        headroom = verdict.get("memory_headroom_mib")
        if headroom is not None:
            what += f", {headroom:.0f} MiB under its memory budget"
        lines.append(f"[green]holds[/] {row.get('name')}: {what}")
    lines += [f"[red]SHORT[/] {gap}" for gap in result.get("verdict", {}).get("shortfalls", [])]
    for row in result.get("rows", []):
        if row.get("interference"):
            lines.append(
                f"[yellow]disturbed[/] {row.get('name')}: {', '.join(row['interference'])}; "
                "other work on the machine moved these figures: run again on a quiet machine"
            )
    if result.get("verdict", {}).get("ok"):
        lines.append("[bold green]verdict: every promise holds[/]")
    else:
        lines.append("[bold red]verdict: falls short[/]")
    return lines


def run_local_bench(
    plan: dict[str, Any], progress: Any, *, timeout_s: float = 24 * 3600
) -> dict[str, Any]:
    """Run `python -m hybridctl.bench run` on this machine in a child process, streaming progress.

    The bench runs in its own process (it starts one more per model), so a crash in llama.cpp
    is the bench's to report, never this CLI's death.
    """
    import json
    import os
    import subprocess
    import sys
    import tempfile

    from hybridctl.errors import OperationFailed
    from hybridctl.extras import require_extra

    require_extra("bench")  # the child imports llama_cpp: say what to install, not "falls short"
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="hybridctl-bench-") as tmp:
        plan_path, out_path = Path(tmp, "plan.json"), Path(tmp, "result.json")
        plan_path.write_text(json.dumps(plan, indent=2))
        command = [sys.executable, "-m", "hybridctl.bench", "run", "--plan", str(plan_path)]
        command += ["--out", str(out_path)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
        )
        tail: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip("\n")
            tail = [*tail[-20:], line]
            progress(line)
        code = process.wait(timeout=timeout_s)
        if code == 2:
            raise InputError(f"the bench refused the plan: {' | '.join(tail[-3:])}")
        if code not in (0, 1) or not out_path.exists():
            raise OperationFailed(
                f"the bench exited with {code} and no result: {' | '.join(tail[-5:])}",
                hint="Run `python -m hybridctl.bench run --plan PLAN.json` to see all its output.",
            )
        result: dict[str, Any] = json.loads(out_path.read_text())
    return result
