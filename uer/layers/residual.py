"""Residual sums without autograd, written into buffers nobody else reads.

A post-LN layer computes ``x + linear(h)`` twice. On CPU that is a copy of the bias into a new
output, the matmul, then one more pass adding ``x``. When ``x`` is a buffer the layer may
overwrite (its own LayerNorm output, or an input the encoder made), the bias is added to ``x``
and the matmul accumulates into it (``addmm_``): one pass and one buffer fewer. The sum is the
same up to rounding order (about 1e-7 relative). With autograd on, under autocast, or for odd
layouts, the plain ``x + linear(h)`` runs, so training is unchanged. Where linears run on oneDNN
(uer/layers/onednn_linear.py) the sum is that library's fused "add" post-op instead.
"""
import torch

from uer.layers.onednn_linear import linear_add


def add_branch(x, branch):
    """``x + branch``; without autograd written over ``branch`` (a fresh output of the layer
    that nothing else holds): the same sum (a + b == b + a), one buffer fewer. Not when the
    dtypes differ, as under autocast: the sum then takes the wider one."""
    if torch.is_grad_enabled() or branch.dtype != x.dtype or branch.shape != x.shape:
        return x + branch
    return branch.add_(x)


def add_linear(x, h, linear, overwrite=False):
    """``x + linear(h)``. ``overwrite``: the caller gives ``x`` up, so without autograd the
    result is accumulated into it and ``x`` itself is returned (on oneDNN: a new tensor)."""
    fused = linear_add(x, h, linear.weight, linear.bias)
    if fused is not None:
        return fused
    if (not overwrite or torch.is_grad_enabled() or linear.bias is None
            or torch.is_autocast_enabled(x.device.type) or not x.is_contiguous()
            or not (x.dtype == h.dtype == linear.weight.dtype)):
        return add_branch(x, linear(h))
    rows = x.view(-1, x.size(-1))
    rows.add_(linear.bias).addmm_(h.reshape(-1, h.size(-1)), linear.weight.t())
    return x
