"""A STREAM-like memory bandwidth probe (the Copy kernel) with ctypes.memmove, no numpy.

ctypes releases the GIL during memmove, so N Python threads copy in parallel. Bytes counted
the way STREAM counts Copy: read + written. Best of several trials, as STREAM reports.
"""

from __future__ import annotations

import ctypes
import threading
import time

MIB = 1 << 20


def _copy_rate(buffer_bytes: int, threads: int, passes: int, trials: int) -> float:
    pairs = [
        (ctypes.create_string_buffer(buffer_bytes), ctypes.create_string_buffer(buffer_bytes))
        for _ in range(threads)
    ]
    for src, dst in pairs:  # fault the pages in before timing
        ctypes.memmove(dst, src, buffer_bytes)
    best = 0.0
    for _ in range(trials):
        barrier = threading.Barrier(threads + 1)

        def work(
            src: ctypes.Array, dst: ctypes.Array, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            for _ in range(passes):
                ctypes.memmove(dst, src, buffer_bytes)

        workers = [threading.Thread(target=work, args=pair) for pair in pairs]
        for worker in workers:
            worker.start()
        barrier.wait()
        started = time.perf_counter()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        best = max(best, 2 * buffer_bytes * passes * threads / elapsed)
    return best


def measure(threads: int, available_mib: float, buffer_mib: int | None = None) -> dict:
    """Copy bandwidth with 1 thread and with `threads` threads, bytes/s and GB/s."""
    if buffer_mib is None:
        # two buffers per thread, far larger than any cache, using at most 1/8 of free memory
        buffer_mib = int(min(256, max(16, available_mib / (8 * 2 * max(threads, 1)))))
    size = buffer_mib * MIB
    passes = max(1, 1024 // buffer_mib)
    results = {}
    for count in sorted({1, max(threads, 1)}):
        rate = _copy_rate(size, count, passes, trials=3)
        results[str(count)] = {"bytes_per_s": round(rate), "gb_per_s": round(rate / 1e9, 2)}
    return {
        "method": "STREAM Copy kernel via ctypes.memmove; bytes read + written; best of 3 trials",
        "buffer_mib_per_thread": 2 * buffer_mib,
        "by_threads": results,
    }
