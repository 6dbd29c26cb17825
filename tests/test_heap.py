"""uer/heap.py: the heap trimmer trims every N calls, and trimming gives fragmented free
memory back (glibc) without touching live data."""
import platform

import pytest

from uer import heap


def test_trimmer_trims_every_n_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "trim_heap", lambda: calls.append(1) or True)
    trimmer = heap.HeapTrimmer(every=3)
    results = [trimmer.step() for _ in range(7)]
    assert results == [False, False, True, False, False, True, False]
    assert len(calls) == 2
    assert heap.HeapTrimmer(every=0).every == 1


def _resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2 ** 20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_heap_returns_the_holes_of_a_fragmented_heap():
    # 64 KB blocks, written (under glibc's mmap threshold: in the heap), every other one freed,
    # and a small block kept at the top so the heap cannot shrink from its end.
    pattern = bytes(range(256)) * 256
    blocks = [bytearray(pattern) for _ in range(3000)]
    keep = blocks[1::2]
    del blocks
    pinned = bytearray(pattern[:64])
    before = _resident_mb()
    assert heap.trim_heap() is True
    after = _resident_mb()
    assert before - after > 50  # about 96 MB of holes
    assert all(block == pattern for block in keep) and len(pinned) == 64
