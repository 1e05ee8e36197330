"""What this machine can do fast: the precision to train in, and memory readings.

On CPUs with native bf16 matrix instructions (Intel AMX ``amx_bf16``, or AVX-512 ``avx512_bf16`` on
recent AMD and Intel parts) a bf16 matmul runs several times faster than fp32 (docs/BENCHMARKS.md), so
training uses bf16 autocast there and fp32 elsewhere. CUDA devices with bf16 support use bf16 too.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache
from pathlib import Path

PRECISIONS = ("auto", "bf16", "fp32")
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_native_bf16() -> bool:
    """True when the CPU multiplies bf16 matrices in hardware (AMX or AVX-512 BF16)."""
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``"bf16"`` or ``"fp32"`` for ``precision`` in ``PRECISIONS`` on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_native_bf16() else "fp32"


def rss_gib() -> float:
    """This process's resident memory in GiB (0.0 where ``/proc`` is unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def available_gib() -> float | None:
    """Memory the OS can still hand out without swapping (``MemAvailable``), in GiB; ``None`` where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except (OSError, IndexError, ValueError):
        pass
    return None


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``); a no-op on other C libraries.

    Training steps whose tensors change shape every step (variable-length batches) leave the glibc
    heap fragmented; without this the resident size of a CPU training process keeps growing.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
