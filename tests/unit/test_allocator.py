"""The worker's allocator settings: a freed large buffer goes back to the system instead of raising the threshold."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from signal_monitor.allocator import tune_allocator

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt and mallinfo2 are glibc's")

#: Frees a 4 MiB buffer, then says whether a 1 MiB one gets its own mapping (1) or comes from the heap (0).
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from signal_monitor.allocator import tune_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    print(tune_allocator(int(sys.argv[1])))
    big = bytearray(4 * 2**20)
    del big
    before = libc.mallinfo2().hblks
    buf = bytearray(2**20)
    print(libc.mallinfo2().hblks - before)
    """
)


def _probe(threshold_kib: int) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(threshold_kib)], capture_output=True, text=True, check=True)
    applied, mapped = out.stdout.split()
    return applied, int(mapped)


@glibc_only
def test_without_it_glibc_serves_a_buffer_from_the_heap_once_a_larger_mapping_was_freed() -> None:
    assert _probe(0) == ("False", 0)


@glibc_only
def test_with_it_a_buffer_above_the_threshold_keeps_its_own_mapping_after_a_larger_one_was_freed() -> None:
    assert _probe(128) == ("True", 1)


def test_a_threshold_glibc_cannot_fix_is_refused_with_its_limit() -> None:
    with pytest.raises(ValueError, match="at most 32768 KiB"):
        tune_allocator(64 * 1024)


def test_zero_leaves_the_allocator_alone() -> None:
    assert tune_allocator(0) is False
