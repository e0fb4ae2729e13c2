"""Keep freed memory in the process: on glibc, each batch's activations (megabytes each) were handed back
to the kernel when freed and faulted back in, page by page, on the next batch.

glibc serves allocations above its mmap threshold with fresh mappings and trims the top of the heap
once its free end passes the trim threshold; both start low (128 KiB) and adapt, but a CNN batch frees
several buffers of ~13 MB at once, over the trim threshold, on every batch. Raising both thresholds keeps
the memory in the heap: the evaluate stage took 0.79x and a training epoch 0.83x the time on the 2-core VM
(benchmarks/speed.py, docs/benchmarks.md). It changes no result, only where memory comes from.
Elsewhere (macOS, Windows, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit: larger buffers are still mapped
TRIM_THRESHOLD = 2**30  # keep up to 1 GiB of freed heap; the stages peak below 1.5 GB in all


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; whether that took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
