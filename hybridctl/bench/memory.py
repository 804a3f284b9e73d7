"""Memory figures from /proc (psutil where /proc is missing): the machine's and a process's peak."""

from __future__ import annotations

import os
import threading
from pathlib import Path

MIB = 1 << 20
_STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def machine_memory_mib() -> dict[str, float]:
    """Total and available memory and swap of the machine, MiB."""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        values = {}
        for line in meminfo.read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[key] = int(parts[0]) / 1024  # kB
        return {
            "total_mib": round(values.get("MemTotal", 0.0), 1),
            "available_mib": round(values.get("MemAvailable", values.get("MemFree", 0.0)), 1),
            "swap_total_mib": round(values.get("SwapTotal", 0.0), 1),
            "swap_free_mib": round(values.get("SwapFree", 0.0), 1),
        }
    import psutil

    vm, swap = psutil.virtual_memory(), psutil.swap_memory()
    return {
        "total_mib": round(vm.total / MIB, 1),
        "available_mib": round(vm.available / MIB, 1),
        "swap_total_mib": round(swap.total / MIB, 1),
        "swap_free_mib": round(swap.free / MIB, 1),
    }


def process_status_mib(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, VmHWM (peak RSS), RssAnon, RssFile of a process, MiB (Linux)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        import psutil

        info = psutil.Process(None if pid == "self" else int(pid)).memory_info()
        return {"VmRSS": info.rss / MIB}
    found: dict[str, float] = {}
    for line in status.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in _STATUS_KEYS:
            found[key] = int(rest.split()[0]) / 1024
    return found


class PeakSampler:
    """Samples this process's RSS split (anonymous vs file-mapped) in a thread and keeps the peaks.

    llama.cpp releases the GIL while it computes, so the thread keeps sampling during decode.
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peaks: dict[str, float] = {}
        self.baseline_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        # The interpreter and the llama.cpp library before any model: what a C++ server lacks.
        self.baseline_mib = process_status_mib(os.getpid()).get("VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        for key, value in process_status_mib(os.getpid()).items():
            if value > self.peaks.get(key, 0.0):
                self.peaks[key] = value

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def result(self) -> dict[str, float | None]:
        """peak_rss_mib is the kernel's high-water mark (VmHWM) when available; model_rss_mib is
        that peak less the process before loading (Python and the library), i.e. the model's own."""
        current = process_status_mib(os.getpid())
        peak = current.get("VmHWM", self.peaks.get("VmRSS"))
        model = peak - self.baseline_mib if peak is not None and self.baseline_mib else None
        return {
            "peak_rss_mib": _round(peak),
            "baseline_rss_mib": _round(self.baseline_mib),
            "model_rss_mib": _round(model),
            "peak_rss_anon_mib": _round(self.peaks.get("RssAnon")),
            "peak_rss_file_mib": _round(self.peaks.get("RssFile")),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
