"""scripts/gpu_calibrate.sh: the trimmed llama.cpp tree, the report from batched-bench's tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hybridctl.testing.modelgen import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_calibrate.sh"
# llama-batched-bench's output from this script's CPU path (--cpu --shapes tiny --sequences
# "1 2 4" --prompt 32 --gen 16) on a 2 vCPU AMD EPYC, built from llama-cpp-python 0.3.36's sources.
RECORDED = ROOT / "tests" / "data" / "batched_bench_cpu_tiny.log"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the test's python3 (numpy)
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": path, **(env or {})},
    )


def _fake_sdist(tmp: Path) -> Path:
    top = tmp / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    for rel in (
        "CMakeLists.txt", "LICENSE", "cmake/common.cmake", "ggml/CMakeLists.txt",
        "ggml/src/ggml-cuda/mmq.cu", "ggml/src/ggml-cpu/ops.cpp", "ggml/src/ggml-vulkan/v.cpp",
        "ggml/src/ggml-metal/m.m", "src/llama.cpp", "include/llama.h", "common/common.cpp",
        "vendor/nlohmann/json.hpp", "gguf-py/gguf/__init__.py", "licenses/LICENSE-curl",
        "tools/CMakeLists.txt", "tools/batched-bench/batched-bench.cpp",
        "tools/quantize/quantize.cpp", "tools/server/server.cpp", "examples/simple/simple.cpp",
    ):  # fmt: skip
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(rel)
    sdist = tmp / "llama_cpp_python-0.3.36.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(tmp / "llama_cpp_python-0.3.36", arcname="llama_cpp_python-0.3.36")
    return sdist


def test_the_tree_is_trimmed_to_what_batched_bench_needs(tmp_path: Path) -> None:
    sdist = _fake_sdist(tmp_path / "src")
    work = tmp_path / "work"
    done = _run("--trim-only", "--sdist", str(sdist), "--work", str(work))
    assert done.returncode == 0, done.stderr
    tree = work / "llama.cpp"
    assert (tree / "ggml/src/ggml-cuda/mmq.cu").is_file()
    assert (tree / "ggml/src/ggml-cpu/ops.cpp").is_file()
    assert (tree / "gguf-py/gguf/__init__.py").is_file()
    for gone in ("ggml/src/ggml-vulkan", "ggml/src/ggml-metal", "tools/server", "examples"):
        assert not (tree / gone).exists(), gone
    tools = (tree / "tools/CMakeLists.txt").read_text()
    assert "add_subdirectory(batched-bench)" in tools and "server" not in tools


def test_the_report_reads_batched_bench_and_writes_measured_efficiencies(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    (work / "models").mkdir()
    shutil.copy(RECORDED, work / "runs" / "tiny.log")
    model = write_tiny_model(work / "models" / "tiny-q4_k_m.gguf")
    out = tmp_path / "calibration.json"
    done = _run(
        "--cpu", "--report-only", "--shapes", "tiny", "--bandwidth-gbs", "36", "--tflops", "1",
        "--work", str(work), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["provenance"] == "measured" and report["backend"] == "cpu"
    assert report["date"] and "--report-only" in report["command"]
    tiny = report["models"]["tiny"]
    assert [r["sequences"] for r in tiny["rows"]] == [1, 2, 4]
    alone = tiny["rows"][0]
    size = model.stat().st_size
    assert tiny["file_bytes"] == size
    assert tiny["bandwidth_efficiency"] == pytest.approx(alone["gen_tokens_per_s"] * size / 36e9)
    best = max(r["gen_tokens_per_s"] for r in tiny["rows"])
    assert tiny["decode_compute_efficiency"] == pytest.approx(best * 2 * tiny["parameters"] / 1e12)
    assert "wrote" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cpu", "--report-only", "--shapes", "tiny"],
            "--cpu needs --bandwidth-gbs and --tflops",
        ),
        (["--sequences", "1 two"], "not a positive whole number: two"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = _run(*args, "--work", str(tmp_path), "--tree", str(tmp_path / "none"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


BUILT = ROOT / ".cache" / "gpu-calibrate" / "build-cpu" / "bin" / "llama-batched-bench"


@pytest.mark.skipif(
    not BUILT.exists() and not os.environ.get("HYBRIDCTL_TEST_GPU_CALIBRATE"),
    reason="the first run builds llama.cpp from source (about 15 minutes on 2 vCPUs): run "
    "`scripts/gpu_calibrate.sh --cpu --shapes tiny --bandwidth-gbs 36 --tflops 1` once, or set "
    "HYBRIDCTL_TEST_GPU_CALIBRATE=1",
)
def test_the_whole_cpu_path(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    done = subprocess.run(
        ["bash", str(SCRIPT), "--cpu", "--shapes", "tiny", "--sequences", "1 2 4", "--prompt",
         "32", "--gen", "16", "--bandwidth-gbs", "36", "--tflops", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=3600,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["provenance"] == "measured" and report["backend"] == "cpu"
    rows = report["models"]["tiny"]["rows"]
    assert [r["sequences"] for r in rows] == [1, 2, 4]
    assert all(r["gen_tokens_per_s"] > 0 and r["prompt_tokens_per_s"] > 0 for r in rows)
