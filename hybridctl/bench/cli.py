"""Command line of the standalone bench: run, info, serve, and the internal child command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .planfile import PlanError, load_plan, parse_plan

EXIT_OK, EXIT_SHORT, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bench",
        description="Measure llama.cpp models on this machine against promised speeds.",
        epilog="Example: python3 bench.pyz run --plan plan.json --out result.json",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="{run,info,serve}"
    )
    run = sub.add_parser("run", help="bench the models of a plan (or one --model)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--plan", help="PLAN.json ('-' for stdin)")
    source.add_argument("--model", help="a GGUF file to bench alone")
    run.add_argument("--name", help="name of --model in the result (default: file name)")
    run.add_argument("--promised", type=float, help="promised tokens/s for --model")
    run.add_argument("--budget-mib", type=float, help="memory budget for --model, MiB")
    run.add_argument("--out", help="write RESULT.json here (default: stdout)")
    run.add_argument("--repetitions", type=int, help="override the plan's repetitions")
    run.add_argument("--prompt-tokens", type=int, help="override the plan's prompt tokens")
    run.add_argument("--gen-tokens", type=int, help="override the plan's generated tokens")
    run.add_argument("--threads", type=int, help="override the plan's threads")
    run.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth probe")
    run.add_argument(
        "--no-repack", action="store_true", help="load without llama.cpp's CPU weight repacking"
    )
    sub.add_parser("info", help="print machine, llama.cpp build and memory bandwidth as JSON")
    child = sub.add_parser("child")  # internal: one model in a child process
    child.add_argument("spec")
    child.add_argument("result")
    sub.add_parser("serve", help="serving load test (see `serve --help`)", add_help=False)
    return parser


def _plan_from_args(args: argparse.Namespace) -> Any:
    if args.plan:
        plan = load_plan(args.plan)
        raw: dict[str, Any] = {}
    else:
        raw = {
            "models": [
                {
                    "name": args.name or Path(args.model).name,
                    "path": args.model,
                    "promised_tokens_per_s": args.promised,
                    "memory_budget_mib": args.budget_mib,
                }
            ]
        }
        plan = parse_plan(raw)
    overrides = {
        "repetitions": args.repetitions,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "threads": args.threads,
    }
    if args.no_bandwidth:
        overrides["measure_bandwidth"] = False
    if args.no_repack:
        overrides["repack"] = False
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if not overrides:
        return plan
    # re-validate with the overrides applied
    import dataclasses

    merged = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    merged["models"] = [dataclasses.asdict(m) for m in plan.models]
    merged.pop("warnings")
    merged.update(overrides)
    return parse_plan({k: v for k, v in merged.items() if v is not None})


def _run(args: argparse.Namespace) -> int:
    from .report import table
    from .runner import run_plan

    try:
        plan = _plan_from_args(args)
    except PlanError as exc:
        print(f"error: bad plan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = run_plan(plan)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    print(table(result), file=sys.stderr)
    return EXIT_OK if result["verdict"]["ok"] else EXIT_SHORT


def _info() -> int:
    from . import bandwidth
    from .machine import default_threads, llama_cpp_info, machine_info
    from .memory import machine_memory_mib

    threads = default_threads()
    info = {
        "machine": machine_info(),
        "llama_cpp": llama_cpp_info(),
        "bandwidth": bandwidth.measure(threads, machine_memory_mib()["available_mib"]),
    }
    print(json.dumps(info, indent=2))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "serve":
        from .loadtest import main as serve_main

        return serve_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "child":
        from .worker import main as child_main

        return child_main(args.spec, args.result)
    if args.command == "info":
        return _info()
    return _run(args)
