"""The C allocator's settings for a worker process: large buffers are handed back to the system when freed.

A worker's large allocations are its in-flight data: aiokafka's fetched record
batches, a batch's message bytes and decoded structs, the Lua payloads. They
come and go with every batch, in sizes from a few KiB to a few MiB. glibc's
``malloc`` serves a request of at least its *mmap threshold* (128 KiB at start)
with its own mapping, returned to the system on ``free``; but every time such a
mapping is freed, glibc raises the threshold to its size (up to 32 MiB), so
from then on buffers of that size come from the heap. Freed heap memory
between live objects cannot be returned, and the process keeps the high-water
mark of its in-flight data as resident memory, rising slowly with
fragmentation over a long run (the soak of BENCHMARKS.md: +70 MiB after the
first batch).

:func:`tune_allocator` fixes the mmap threshold (which also turns the raise
off) and the heap's trim threshold with ``mallopt``, so the resident memory
follows what is in flight. The price is CPU: every such buffer is a fresh
mapping whose pages the kernel faults in and zeroes (in the benchmark's
envelopes of ~145 KiB, 30 % fewer events per second at 128 KiB), so
workers run with glibc's defaults unless ``SM_MALLOC_THRESHOLD_KIB`` is set.
A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

#: ``mallopt`` parameters of glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: glibc refuses a fixed mmap threshold above this (HEAP_MAX_SIZE / 2 on 64-bit).
MAX_MMAP_THRESHOLD = 32 * 2**20


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def tune_allocator(threshold_kib: int) -> bool:
    """Serve allocations of ``threshold_kib`` KiB and more from their own mappings and trim the heap above it.

    ``0`` leaves the allocator as it is. Returns whether the settings were
    applied (``False`` without glibc). Allocations made before the call keep
    where they are; call it early, before the first batch.
    """
    if threshold_kib <= 0:
        return False
    size = threshold_kib * 1024
    if size > MAX_MMAP_THRESHOLD:
        raise ValueError(f"the mmap threshold is at most {MAX_MMAP_THRESHOLD // 1024} KiB, not {threshold_kib}")
    libc = _glibc()
    if libc is None:
        log.debug("the C library is not glibc: the allocator keeps its own settings")
        return False
    applied = bool(libc.mallopt(M_MMAP_THRESHOLD, size)) and bool(libc.mallopt(M_TRIM_THRESHOLD, size))
    if applied:
        log.info("allocator: buffers of %d KiB and more are mapped on their own and returned when freed", threshold_kib)
    else:
        log.warning("allocator: glibc refused an mmap threshold of %d KiB; its defaults stay", threshold_kib)
    return applied
