"""Cutting the all-padding columns off the end of a pre-training batch.

The loader pads every instance to the dataset's ``seq_length``. For most encoders the output at
a real position does not depend on padding that follows it (the padding is masked out of
attention, or the encoder reads left to right), and the targets are 0 (ignored) on padding, so
the loss and every gradient are the same with those columns removed; only the work shrinks.
Encoders mark this with a class attribute ``padding_invariant = True``. Those that read the
padding (a backward RNN) keep the full width. Targets whose losses read only real positions (or
[CLS]) declare ``padding_invariant = True`` too; both must agree."""
import torch


def can_trim(model, target):
    """``target``: the name the target is registered under."""
    from uer.targets import str2target

    encoder = getattr(model, "encoder", None)
    return (bool(getattr(str2target.get(target), "padding_invariant", False))
            and bool(getattr(encoder, "padding_invariant", False)))


def trim_padding(src, tgt, seg, round_to=1):
    """(src, tgt, seg) with every [B, L] tensor cut to the longest real row (seg > 0), rounded
    up to a multiple of ``round_to`` (fewer shapes for --compile)."""
    length = int((seg > 0).sum(dim=1).max()) if seg.numel() else 0
    length = -(-length // round_to) * round_to
    full = seg.size(1)
    if length >= full:
        return src, tgt, seg
    length = max(length, 1)

    def cut(value):
        if isinstance(value, tuple):
            return tuple(cut(item) for item in value)
        if isinstance(value, torch.Tensor) and value.dim() == 2 and value.size(1) == full:
            return value[:, :length].contiguous()
        return value

    return cut(src), cut(tgt), cut(seg)
