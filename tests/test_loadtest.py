"""The serving load test against a real llama-cpp-python OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.bench import loadreport, loadtest

pytest.importorskip("llama_cpp")
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] extras not installed")

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", *extra]
    handle = log.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                return process, url
        except OSError as exc:
            # 401 means up but wants a key: that is up.
            if getattr(exc, "code", None) == 401:
                return process, url
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridctl.testing.modelgen import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    # Without --interrupt_requests False the server cuts a running stream off when the next
    # request arrives, which is the first thing a load test finds (see the test below).
    process, url = start_server(tiny_model, log, "--interrupt_requests", "False")
    yield url
    stop(process)


def run_main(args: list[str], out: Path) -> tuple[int, dict]:
    code = loadtest.main([*args, "--out", str(out), "--quiet"])
    return code, json.loads(out.read_text())


def test_concurrent_clients_measure_throughput_and_latency(server: str, tmp_path: Path) -> None:
    code, result = run_main(
        ["--url", server, "--clients", "3", "--requests", "6", "--max-tokens", "8"],
        tmp_path / "r.json",
    )
    assert code == 0, result["error_samples"]
    assert result["requests_ok"] == 6 and result["errors"] == 0
    assert result["model"]  # discovered from /v1/models
    assert result["endpoint"] == f"{server}/v1/chat/completions"
    assert 0 < result["generated_tokens"] <= 6 * 8
    assert result["tokens_per_s"] > 0 and result["requests_per_minute"] > 0
    assert result["latency_s"]["p50"] <= result["latency_s"]["p95"]
    assert result["ttft_s"]["p50"] is not None
    assert all(r["ttft_s"] <= r["latency_s"] for r in result["requests"] if r["ttft_s"])
    assert result["verdict"] == {"ok": True, "shortfalls": [], "notes": []}


def test_verdict_against_promised_concurrency_and_rpm_target(server: str, tmp_path: Path) -> None:
    code, result = run_main(
        [
            "--url",
            f"{server}/v1",
            "--clients",
            "2",
            "--requests",
            "2",
            "--max-tokens",
            "4",
            "--promised-concurrency",
            "3",
            "--target-rpm",
            "100000000",
        ],
        tmp_path / "r.json",
    )
    assert code == 1
    shortfalls = " | ".join(result["verdict"]["shortfalls"])
    assert "fewer than the promised concurrency 3" in shortfalls
    assert "short of the 1e+08 target" in shortfalls

    code, result = run_main(
        [
            "--url",
            server,
            "--clients",
            "3",
            "--requests",
            "3",
            "--max-tokens",
            "4",
            "--promised-concurrency",
            "3",
            "--target-rpm",
            "1",
        ],
        tmp_path / "r2.json",
    )
    assert code == 0, result["verdict"]
    assert any("meets the 1 target" in note for note in result["verdict"]["notes"])


def test_interrupting_server_shows_up_as_errors(tiny_model: Path, tmp_path: Path) -> None:
    process, url = start_server(tiny_model, tmp_path / "server.log")  # default: interrupts
    try:
        code, result = run_main(
            ["--url", url, "--clients", "3", "--requests", "6", "--max-tokens", "32"],
            tmp_path / "r.json",
        )
    finally:
        stop(process)
    # Whether a stream is cut depends on arrival order, so some, not all, may fail; with three
    # clients racing over six requests at least one is cut off in practice, but the firm
    # property is that every cut stream is counted as an error, never as a success.
    for record in result["requests"]:
        assert record["ok"] == (record["error"] is None)
    if result["errors"]:
        assert code == 1
        assert "stream ended without a finish_reason" in result["error_samples"][0]


def test_api_key_comes_from_the_named_environment_variable(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, url = start_server(tiny_model, tmp_path / "server.log", "--api_key", "sekrit-123")
    try:
        args = ["--url", url, "--clients", "1", "--requests", "2", "--max-tokens", "4"]
        code, result = run_main([*args, "--model", "tiny"], tmp_path / "nokey.json")
        assert code == 1 and result["errors"] == 2
        assert result["error_samples"][0].startswith("HTTP 401")

        monkeypatch.setenv("BENCH_TEST_KEY", "sekrit-123")
        code, result = run_main([*args, "--api-key-env", "BENCH_TEST_KEY"], tmp_path / "key.json")
        assert code == 0, result["error_samples"]
        assert "sekrit-123" not in json.dumps(result)
    finally:
        stop(process)


def test_unreachable_server_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, result = run_main(
        ["--url", url, "--clients", "2", "--requests", "3"], tmp_path / "r.json"
    )
    assert code == 1
    assert result["errors"] == 3 and result["requests_ok"] == 0
    assert "ConnectionRefusedError" in result["error_samples"][0]
    assert result["latency_s"] == {"p50": None, "p95": None}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--clients", "0"], "--clients must be"),
        (["--requests", "0"], "--requests must be"),
        (["--api-key-env", "NOT_SET_ANYWHERE"], "NOT_SET_ANYWHERE (--api-key-env) is not set"),
        (["--url", "ftp://x"], "is not an http(s) URL"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    base = {"--url": "http://127.0.0.1:1", "--clients": "1", "--requests": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    assert loadtest.main(argv) == 2
    assert message in capsys.readouterr().err


def test_runs_as_bench_serve_subcommand(server: str, tmp_path: Path) -> None:
    """`python -m hybridctl.bench serve` is how the zipapp and the box run it."""
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "hybridctl.bench", "serve", "--url", server]
    command += ["--clients", "2", "--requests", "2", "--max-tokens", "4", "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(out.read_text())["requests_ok"] == 2
    assert "requests/min" in completed.stderr


def test_percentile_and_endpoint_helpers() -> None:
    assert loadreport.percentile([], 0.5) is None
    assert loadreport.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert loadreport.percentile([1.0, 2.0], 0.95) == pytest.approx(1.95)
    assert loadtest.chat_completions_url("http://h:1/") == "http://h:1/v1/chat/completions"
    assert loadtest.chat_completions_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    full = "https://h/x/v1/chat/completions"
    assert loadtest.chat_completions_url(full) == full
