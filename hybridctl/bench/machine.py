"""Describe the machine (CPU, cores, RAM, flags) and the llama.cpp build the bench runs on."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from .memory import machine_memory_mib

INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "neon",
    "asimd",
    "sve",
)


def _cpuinfo() -> tuple[str, set[str]]:
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return platform.processor() or platform.machine(), set()
    model, flags = "", set[str]()
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except ImportError:  # psutil is optional on the box
        return None


def default_threads() -> int:
    """llama-bench's default: the physical cores, else the CPUs this process may use."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = physical_cores()
    return max(1, min(cores or usable or 1, usable or 1))


def machine_info() -> dict[str, Any]:
    model, flags = _cpuinfo()
    memory = machine_memory_mib()
    return {
        "hostname": platform.node(),
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "physical_cores": physical_cores(),
        "cpu_flags": sorted(flag for flag in INTERESTING_FLAGS if flag in flags),
        "ram_total_mib": memory["total_mib"],
        "swap_total_mib": memory["swap_total_mib"],
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": sys.version.split()[0],
    }


def llama_cpp_info() -> dict[str, Any]:
    """llama-cpp-python's version and llama.cpp's own system info line (the build's features)."""
    try:
        import llama_cpp
    except ImportError as exc:
        return {"available": False, "error": f"llama_cpp not importable: {exc}"}
    system_info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    return {
        "available": True,
        "llama_cpp_python": getattr(llama_cpp, "__version__", "unknown"),
        "system_info": system_info,
        "features": parse_system_info(system_info),
        "supports_mmap": bool(llama_cpp.llama_supports_mmap()),
    }


def parse_system_info(text: str) -> dict[str, str]:
    """'CPU : SSE3 = 1 | AVX2 = 1 | REPACK = 1 |' -> {'SSE3': '1', 'AVX2': '1', 'REPACK': '1'}."""
    return {key: value for key, value in re.findall(r"([A-Za-z0-9_]+) = ([^|]+?)\s*(?=\||$)", text)}
