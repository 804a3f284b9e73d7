"""Plain-text table of a bench result, for the terminal (stderr)."""

from __future__ import annotations

from typing import Any

from .result import BenchResult


def _mean_sd(figure: dict[str, Any] | None, digits: int) -> str:
    if not figure or figure.get("mean") is None:
        return "-"
    return f"{figure['mean']:.{digits}f} ± {figure['stddev']:.{digits}f}"


def table(result: BenchResult) -> str:
    header = (
        "model",
        "status",
        "tg tok/s",
        "pp tok/s",
        "load s",
        "peak MiB",
        "roofline",
        "verdict",
    )
    lines = [header]
    for row in result["rows"]:
        ok = row["status"] == "ok"
        roof = (row.get("roofline") or {}).get("fraction")
        lines.append(
            (
                row["name"],
                row["status"] + ("" if not ok or row.get("repack", True) else " (no repack)"),
                _mean_sd(row["generation"]["tokens_per_s"], 2) if ok else "-",
                _mean_sd(row["prompt"]["tokens_per_s"], 1) if ok else "-",
                f"{row['load_s']:.2f}" if ok else "-",
                f"{row['memory']['peak_rss_mib']:.0f}" if ok else "-",
                f"{100 * roof:.0f}%" if roof is not None else "-",
                "ok" if row["verdict"]["ok"] else "SHORT",
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    settings = result["settings"]
    text.append(
        f"threads {settings['threads']}, batch {settings['batch_size']}/{settings['ubatch_size']}, "
        f"pp{settings['prompt_tokens']} tg{settings['gen_tokens']} x{settings['repetitions']}; "
        "tokens/s from llama.cpp's counters, tokenization and sampling excluded"
    )
    shortfalls = result["verdict"]["shortfalls"]
    text.append("verdict: every promise holds" if not shortfalls else "verdict: SHORT")
    text.extend(f"  - {s}" for s in shortfalls)
    return "\n".join(text)
