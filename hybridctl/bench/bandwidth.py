"""A STREAM-like memory bandwidth probe (the Copy kernel) with ctypes.memmove, no numpy.

ctypes releases the GIL during memmove, so N Python threads copy in parallel. Bytes counted
the way STREAM counts Copy: read + written. Best of several trials, as STREAM reports; the
trials go on until the two best agree, since one disturbed reading is common on a shared host.
"""

from __future__ import annotations

import ctypes
import threading
import time

MIB = 1 << 20
MIN_TRIALS, MAX_TRIALS = 3, 8
AGREE = 0.05  # the two best trials within this fraction of each other: the reading stands


def _copy_rate(buffer_bytes: int, threads: int, passes: int) -> tuple[float, int, float]:
    """The best copy rate, the trials it took and how far the two best were apart."""
    pairs = [
        (ctypes.create_string_buffer(buffer_bytes), ctypes.create_string_buffer(buffer_bytes))
        for _ in range(threads)
    ]
    for src, dst in pairs:  # fault the pages in before timing
        ctypes.memmove(dst, src, buffer_bytes)
    rates: list[float] = []
    while len(rates) < MAX_TRIALS:
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
        rates.append(2 * buffer_bytes * passes * threads / elapsed)
        first, second = sorted(rates, reverse=True)[:2] if len(rates) > 1 else (rates[0], 0.0)
        spread = 1 - second / first
        if len(rates) >= MIN_TRIALS and spread <= AGREE:
            break
    return first, len(rates), spread


def measure(threads: int, available_mib: float, buffer_mib: int | None = None) -> dict:
    """Copy bandwidth with 1 thread and with `threads` threads, bytes/s and GB/s."""
    if buffer_mib is None:
        # two buffers per thread, far larger than any cache, using at most 1/8 of free memory
        buffer_mib = int(min(256, max(16, available_mib / (8 * 2 * max(threads, 1)))))
    size = buffer_mib * MIB
    passes = max(1, 1024 // buffer_mib)
    results = {}
    for count in sorted({1, max(threads, 1)}):
        rate, trials, spread = _copy_rate(size, count, passes)
        results[str(count)] = {
            "bytes_per_s": round(rate),
            "gb_per_s": round(rate / 1e9, 2),
            "trials": trials,
            "two_best_apart": round(spread, 3),
        }
    return {
        "method": "STREAM Copy kernel via ctypes.memmove; bytes read + written; best trial, "
        f"{MIN_TRIALS}-{MAX_TRIALS} trials until the two best agree within {AGREE:.0%}",
        "buffer_mib_per_thread": 2 * buffer_mib,
        "by_threads": results,
    }
