"""The bench ships alone: a zipapp that runs isolated, and modules that import nothing else."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hybridctl.bench import zipapp
from hybridctl.testing.modelgen import write_tiny_model

ALLOWED_THIRD_PARTY = {"llama_cpp", "psutil"}
BENCH_DIR = Path(zipapp.__file__).resolve().parent


def test_bench_modules_import_only_stdlib_llama_cpp_and_psutil() -> None:
    offenders = []
    for source in sorted(BENCH_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                inside = name.startswith("hybridctl.bench")
                if not inside and top not in sys.stdlib_module_names | ALLOWED_THIRD_PARTY:
                    offenders.append(f"{source.name}: {name}")
    assert offenders == []


def test_zipapp_holds_only_the_bench_and_is_reproducible(tmp_path: Path) -> None:
    first = zipapp.build(tmp_path / "a.pyz")
    second = zipapp.build(tmp_path / "b.pyz")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(first, os.X_OK)
    names = zipfile.ZipFile(first).namelist()
    assert "__main__.py" in names and "hybridctl/bench/runner.py" in names
    assert all(
        n in ("__main__.py", "hybridctl/__init__.py") or n.startswith("hybridctl/bench/")
        for n in names
    )


def test_zipapp_runs_isolated_from_another_directory(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    box = tmp_path / "box"
    box.mkdir()
    pyz = zipapp.build(box)
    assert pyz.name == "bench.pyz"
    tiny = write_tiny_model(box / "tiny.gguf")
    plan = {
        "models": [
            {
                "name": "tiny",
                "path": str(tiny),
                "quantization": "F16",
                "promised_tokens_per_s": 1.0,
                "memory_budget_mib": 2048,
            }
        ],
        "repetitions": 1,
        "prompt_tokens": 16,
        "gen_tokens": 4,
        "measure_bandwidth": False,
    }
    (box / "plan.json").write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYBRIDCTL_BENCH_FAULT")}
    proc = subprocess.run(
        [sys.executable, "-I", "bench.pyz", "run", "--plan", "plan.json"],
        cwd=box,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # JSON on stdout, progress on stderr
    assert result["rows"][0]["status"] == "ok"
    assert "[1/1] tiny" in proc.stderr
    help_proc = subprocess.run(
        [sys.executable, "-I", str(pyz), "--help"],
        cwd=box,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_proc.returncode == 0 and "Example: python3 bench.pyz run" in help_proc.stdout
