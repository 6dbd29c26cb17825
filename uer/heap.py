"""Giving freed heap memory back to the system during long loops (glibc).

Batches of many different lengths fragment glibc's heap: freed tensors leave holes that later,
differently sized ones do not fill, and the heap is trimmed only from its top. Measured on CMRC
prediction over dev.json (10k windows, seq 512, batch 8, bert_tiny; bench/RESULTS.md,
2026-12-02): resident memory grew without bound, 6.2 GB at the end, though the live tensors
never pass 0.4 GB; ``malloc_trim`` every 10 batches held it at 0.3-0.5 GB for no measurable
time, every batch cost 13%. ``limit_heap_fragmentation`` (run_cmrc.py) gives large tensors
their own mappings instead. Nothing happens where the C library is not glibc."""
import ctypes

# Batches between two trims: each trim hands the holes back, and refilling them costs page
# faults, so not every batch.
TRIM_EVERY = 10


# run_cmrc.py: allocations of 8 MB or more in their own mappings (uer/finetune/tasks/cmrc.py
# says what that measured); glibc's mallopt parameter number for that threshold
MMAP_THRESHOLD_BYTES = 8 << 20
M_MMAP_THRESHOLD = -3


def _libc_function(name):
    """``name`` from the C library, or None where it has none (not glibc)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


_TRIM = _libc_function("malloc_trim")


def limit_heap_fragmentation(threshold=MMAP_THRESHOLD_BYTES):
    """Allocations of ``threshold`` bytes or more get their own memory mapping, returned to the
    system when freed (glibc's dynamic threshold would rise to 32 MB and keep them in the heap).
    Returns True when applied."""
    mallopt = _libc_function("mallopt")
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) if mallopt is not None else False


def trim_heap():
    """Return the heap's free pages to the system now; True where that was possible."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class HeapTrimmer:
    """``step()`` once per batch: trims the heap every ``every`` calls."""

    def __init__(self, every=TRIM_EVERY):
        self.every = max(1, int(every))
        self.calls = 0

    def step(self):
        self.calls += 1
        if self.calls % self.every == 0:
            return trim_heap()
        return False
