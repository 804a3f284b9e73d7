"""`hybridctl bench`, the plans it builds and the standalone bench start from the same defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

from hybridctl.bench import loadtest
from hybridctl.bench.planfile import parse_plan
from hybridctl.bench_host.model_files import ModelFile
from hybridctl.bench_host.plan_builder import build_plan
from hybridctl.cli.bench_cmd import bench


def test_the_host_s_plan_and_options_match_the_standalone_bench(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    host_plan = build_plan(None, None, [ModelFile(model)])
    standalone = parse_plan({"models": host_plan["models"]})  # the bench's own defaults
    assert parse_plan(host_plan).settings() == standalone.settings()
    options = inspect.signature(bench).parameters
    for name in ("repetitions", "prompt_tokens", "gen_tokens", "threads"):
        assert options[name].default == getattr(standalone, name), name


def test_the_host_s_load_test_options_match_bench_serve() -> None:
    serve = loadtest.build_parser().parse_args(["--url", "http://127.0.0.1:8080"])
    options = inspect.signature(bench).parameters
    assert options["requests"].default == serve.requests
    assert options["max_tokens"].default == serve.max_tokens
