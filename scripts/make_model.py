#!/usr/bin/env python3
"""Write a random-weight GGUF in a real model's shape and quantize it (a thin CLI over modelgen)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridctl.extras import install_command, pip_install

if TYPE_CHECKING:
    from hybridctl.testing.modelgen import ModelShape

EXIT_USAGE = 2
WRITER_PACKAGES = {"gguf": "gguf>=0.10", "numpy": "numpy"}  # as in the [test] extra


def missing_writer() -> str | None:
    """The error when a package the GGUF writer imports is missing, else None."""
    missing = [m for m in WRITER_PACKAGES if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"error: make_model.py needs {' and '.join(missing)}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed; install with: "
        f"{pip_install(*WRITER_PACKAGES.values())}"
    )


def missing_quantizer(quant: str) -> str | None:
    """The error when quantizing to `quant` needs llama-cpp-python and it is missing."""
    from hybridctl.testing.modelgen import UNQUANTIZED

    if quant in UNQUANTIZED or importlib.util.find_spec("llama_cpp") is not None:
        return None
    return (
        f"error: quantizing to {quant} needs llama-cpp-python (the [bench] extra), which is not "
        f"installed; install it with: {install_command('bench')} (or write --quant F16)"
    )


def shape_from_catalog(model_id: str, catalog_path: Path | None) -> tuple[ModelShape, str]:
    """The shape and quantization of catalog model `model_id`."""
    from hybridctl.catalog import load_catalog
    from hybridctl.testing.modelgen import ModelShape

    catalog = load_catalog(catalog_path)
    if model_id not in catalog.models:
        known = ", ".join(sorted(catalog.models))
        raise SystemExit(f"error: no model {model_id!r} in the catalog; known: {known}")
    model = catalog.models[model_id]
    arch = model.architecture
    shape = ModelShape(
        name=model.name,
        layers=arch.layers,
        embedding=arch.embedding,
        feed_forward=arch.feed_forward,
        heads=arch.heads,
        kv_heads=arch.kv_heads,
        vocab=arch.vocab,
        context_max=arch.context_max,
    )
    if arch.family not in {"llama", "mistral"}:
        print(
            f"note: {model_id} is a {arch.family} model; writing a llama-architecture model with "
            "the same layer sizes (same weight bytes, close speed)",
            file=sys.stderr,
        )
    return shape, model.quantization


def main(argv: list[str] | None = None) -> int:
    problem = missing_writer()
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    from hybridctl.testing.modelgen import SHAPES, quantization_types, write_model

    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Examples: python scripts/make_model.py --shape tiny --out tiny.gguf (under 1 MB); "
        "python scripts/make_model.py --shape tinyllama-1.1b --quant Q4_K_M "
        "--out .cache/models/tinyllama-q4_k_m.gguf",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--shape", choices=sorted(SHAPES), help="a built-in architecture")
    source.add_argument("--catalog-model", metavar="ID", help="a model id from the catalog")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (tiers.yaml)")
    parser.add_argument(
        "--quant",
        type=str.upper,
        help="F16, F32, Q4_K_M, Q8_0, TQ1_0, TQ2_0, ... (default: the catalog model's, or F16)",
    )
    parser.add_argument("--out", type=Path, required=True, help="GGUF file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.catalog_model:
        shape, catalog_quant = shape_from_catalog(args.catalog_model, args.catalog)
        quant = args.quant or catalog_quant.upper()
    else:
        shape = SHAPES[args.shape]
        quant = args.quant or "F16"
    if quant not in quantization_types():
        parser.error(f"unknown quantization {quant!r}; known: {', '.join(quantization_types())}")
    problem = missing_quantizer(quant)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE

    params = shape.parameter_count()
    count = f"{params / 1e9:.3f} B" if params >= 1e8 else f"{params / 1e6:.2f} M"
    print(f"writing {shape.name} ({count} parameters) as {quant} -> {args.out}")
    started = time.perf_counter()
    path = write_model(args.out, shape, quant, seed=args.seed)
    seconds = time.perf_counter() - started
    size_mib = path.stat().st_size / 2**20
    print(f"wrote {path} ({size_mib:.1f} MiB, {quant}) in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
