"""Dropout with a cheaper mask on CPU.

torch's CPU dropout draws one random number per element (``bernoulli_``); in a bert_tiny training
step that was about 8% of the time, more than every non-matmul kernel together. Here one 64-bit
draw gives four 16-bit uniforms, each compared with a threshold, and only the boolean mask is
kept for the backward pass. The drop probability is rounded to a multiple of 1/65536 (0.1 becomes
0.100006), and kept values are scaled by 1 / (1 - that), so the expectation is unchanged.
Elsewhere (CUDA, eval mode, p of 0 or 1) torch's own dropout runs."""
import torch
import torch.nn.functional as F
from torch import nn

_LEVELS = 65536
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


class _PackedDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, scale):
        count = x.numel()
        words = torch.randint(_INT64_MIN, _INT64_MAX, ((count + 3) // 4,), dtype=torch.int64,
                              device=x.device)
        # int16 uniforms in [-32768, 32767]: keep those at or above the threshold.
        keep = words.view(torch.int16)[:count].view(x.shape) >= threshold
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        keep, = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None, None


def dropout(x, p, training=True):
    if not training or p <= 0.0 or p >= 1.0 or x.device.type != "cpu" or x.numel() == 0:
        return F.dropout(x, p, training)
    dropped = round(p * _LEVELS)
    if dropped == 0:
        return x
    return _PackedDropout.apply(x, dropped - _LEVELS // 2, _LEVELS / (_LEVELS - dropped))


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same attributes, no parameters) using ``dropout`` above."""

    def forward(self, x):
        return dropout(x, self.p, self.training)
