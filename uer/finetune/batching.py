"""Examples, padding and batch order.

Batches are padded to their longest example, not to --seq_length: short texts cost little."""
import numpy as np
import torch

from uer.constants import PAD_ID


class Example:
    """One encoded input: token ``ids``, the length of its segment-1 part (``first_len``; the rest
    is segment 2), an integer ``label`` (None when unknown), optional teacher ``logits`` and a
    free ``extra`` slot a task may use (question id, task index, ...)."""

    __slots__ = ("ids", "first_len", "label", "logits", "extra")

    def __init__(self, ids, first_len, label=None, logits=None, extra=None):
        self.ids = ids
        self.first_len = first_len
        self.label = label
        self.logits = logits
        self.extra = extra

    def __len__(self):
        return len(self.ids)


def pad_src_seg(examples):
    """``src`` and ``seg`` LongTensors [B, longest]: segment 1 / 2, and 0 (PAD) for padding."""
    longest = max(len(ex.ids) for ex in examples)
    src = np.full((len(examples), longest), PAD_ID, dtype=np.int64)
    seg = np.zeros((len(examples), longest), dtype=np.int64)
    for row, ex in enumerate(examples):
        src[row, :len(ex.ids)] = ex.ids
        seg[row, :ex.first_len] = 1
        seg[row, ex.first_len:len(ex.ids)] = 2
    return torch.from_numpy(src), torch.from_numpy(seg)


def fixed_slices(items, batch_size):
    """Consecutive batches of ``batch_size`` (the last one may be smaller)."""
    return [items[i:i + batch_size] for i in range(0, len(items), batch_size)]


# Examples sorted by length inside pools of this many batches: batches of similar lengths pad
# little, and the pools and the batch order stay random.
POOL_BATCHES = 50


def shuffled_batches(examples, batch_size, rng, pool_batches=POOL_BATCHES):
    """A fresh random order each call, cut into batches of similar lengths, in random order."""
    order = rng.permutation(len(examples))
    batches = []
    pool_size = batch_size * max(1, pool_batches)
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start:start + pool_size], key=lambda i: len(examples[i]))
        batches.extend(fixed_slices(pool, batch_size))
    return [[examples[i] for i in batches[j]] for j in rng.permutation(len(batches))]


def length_sorted_batches(examples, batch_size, length=len):
    """Batches of positions into ``examples`` grouped by length (for prediction: much less
    padding). Returns lists of indices so the caller can restore the file order."""
    order = sorted(range(len(examples)), key=lambda i: length(examples[i]))
    return fixed_slices(order, batch_size)
