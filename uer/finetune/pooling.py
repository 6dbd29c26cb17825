"""Pooling of encoder output [B, L, H] into one vector per sequence, over real tokens only
(UER-py pooled over padding too, and ``last`` took position L-1; see README)."""
import torch

from uer.errors import UerError
from uer.opts import POOLING_CHOICES


def encode_for_pooling(embedding, encoder, src, seg, method):
    """The encoder output that ``pool(..., method)`` needs. For "first" a transformer encoder
    that can (``can_compute_row_subset``) runs its last layer for the [CLS] row alone: the pooled
    vector is the same, and about a quarter of a 3-layer encoder's work is skipped."""
    if method == "first" and getattr(encoder, "can_compute_row_subset", False):
        return encoder(embedding(src, seg), seg, first_only=True)
    # mean, max and last read the real tokens only (see pool)
    return encode_real_positions(embedding, encoder, src, seg)


def encode_real_positions(embedding, encoder, src, seg):
    """The encoder output for a caller that reads real positions (seg > 0) only: an encoder
    that declares ``skips_padding_rows`` may leave the padding rows out (zeros there)."""
    emb = embedding(src, seg)
    if getattr(encoder, "skips_padding_rows", False):
        return encoder(emb, seg, real_only=True)
    return encoder(emb, seg)


def pool(hidden, seg, method):
    """``seg > 0`` marks the real tokens; they are a prefix of each row."""
    if method == "first":
        return hidden[:, 0]
    mask = (seg > 0).unsqueeze(-1)
    if method == "mean":
        count = mask.sum(dim=1).clamp(min=1).to(hidden.dtype)
        return (hidden * mask.to(hidden.dtype)).sum(dim=1) / count
    if method == "max":
        return hidden.masked_fill(~mask, torch.finfo(hidden.dtype).min).max(dim=1).values
    if method == "last":
        last = (seg > 0).sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    raise UerError(f"--pooling {method}: unknown pooling; known: {', '.join(POOLING_CHOICES)}")
