"""Parts of the standalone bench: GGUF header reader, footprint, memory, bandwidth, download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from hybridctl.bench import bandwidth, download, memory
from hybridctl.bench.footprint import estimate
from hybridctl.bench.ggufmeta import GGUFError, read_gguf
from hybridctl.bench.machine import parse_system_info
from hybridctl.testing.modelgen import TINY_SHAPE, write_tiny_model


def test_reads_header_of_generated_model(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "tiny.gguf")
    info = read_gguf(path)
    assert info.architecture == "llama" and info.file_type == "F16" and info.version == 3
    assert info.arch_value("block_count") == TINY_SHAPE.layers
    assert info.summary()["vocab"] == TINY_SHAPE.vocab
    assert len(info.tensors) == 3 + 9 * TINY_SHAPE.layers
    assert info.metadata["tokenizer.ggml.tokens"] == TINY_SHAPE.vocab  # long arrays: their length
    expected = sum(
        2 * (t.dims[0] * t.dims[1]) if len(t.dims) == 2 else 4 * t.dims[0] for t in info.tensors
    )
    assert expected <= info.tensor_bytes < expected + 32 * len(info.tensors)


def test_footprint_grows_with_context(tmp_path: Path) -> None:
    info = read_gguf(write_tiny_model(tmp_path / "tiny.gguf"))
    small, large = estimate(info, 64, 512), estimate(info, 2048, 512)
    assert large.kv_cache_mib == pytest.approx(32 * small.kv_cache_mib)
    # f16 K and V: 2 x layers x context x kv_heads x head_dim x 2 bytes
    kv_bytes = 2 * 2 * 2048 * TINY_SHAPE.kv_embedding * 2
    assert large.kv_cache_mib == pytest.approx(kv_bytes / 2**20)
    assert large.total_mib > large.weights_mib + large.kv_cache_mib


@pytest.mark.parametrize(
    "content", [b"", b"GGU", b"GGUF\x03\x00\x00\x00", b"GGUF\x09\x00\x00\x00" + b"\x00" * 16]
)
def test_malformed_headers_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFError):
        read_gguf(path)


def test_memory_figures_and_peak_sampler() -> None:
    figures = memory.machine_memory_mib()
    assert figures["total_mib"] >= figures["available_mib"] > 0
    with memory.PeakSampler(interval_s=0.005) as sampler:
        block = bytearray(64 << 20)  # touch 64 MiB of anonymous memory
        block[::4096] = b"x" * len(block[::4096])
    peaks = sampler.result()
    assert peaks["peak_rss_mib"] >= 64
    assert peaks["peak_rss_anon_mib"] is not None and peaks["peak_rss_anon_mib"] >= 60
    del block


def test_bandwidth_probe_reports_per_thread_count() -> None:
    result = bandwidth.measure(2, available_mib=4096, buffer_mib=16)
    assert set(result["by_threads"]) == {"1", "2"}
    assert all(v["bytes_per_s"] > 1e8 for v in result["by_threads"].values())


def test_parse_system_info() -> None:
    line = "CPU : SSE3 = 1 | AVX2 = 1 | LLAMAFILE = 1 | REPACK = 1 |"
    assert parse_system_info(line) == {"SSE3": "1", "AVX2": "1", "LLAMAFILE": "1", "REPACK": "1"}


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support, as model hosts do; records the ranges asked for."""

    ranges: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not header or not path.is_file():
            return super().send_head()
        _RangeHandler.ranges.append(header)
        start = int(header.removeprefix("bytes=").split("-")[0])
        data = path.read_bytes()
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        import io

        return io.BytesIO(data[start:])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_RangeHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_download_verifies_and_resumes(tmp_path: Path, served: tuple[str, Path]) -> None:
    url, root = served
    model = write_tiny_model(root / "tiny.gguf")
    data = model.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "tiny.gguf.part").write_bytes(data[:1000])  # an interrupted download
    path = download.fetch(f"{url}/tiny.gguf", models_dir, digest)
    assert path.read_bytes() == data
    assert _RangeHandler.ranges == ["bytes=1000-"]  # resumed, not restarted
    assert not (models_dir / "tiny.gguf.part").exists()
    with pytest.raises(download.DownloadError, match="checksum mismatch"):
        download.fetch(f"{url}/tiny.gguf", tmp_path / "other", "0" * 64)
    assert not (tmp_path / "other" / "tiny.gguf.part").exists()
    with pytest.raises(download.DownloadError, match="only http"):
        download.fetch("file:///etc/passwd", models_dir, None)
