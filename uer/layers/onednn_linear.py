"""Linear layers through oneDNN where MKL runs slow, with the same results up to rounding.

torch's fp32 ``F.linear`` on CPU is an MKL sgemm. MKL picks its kernels by CPU vendor: on AMD
CPUs with AVX-512 (Zen 4, Zen 5) it runs its AVX2 code, and oneDNN, which torch also ships
(``torch.ops.mkldnn._linear_pointwise``, the op torch.compile's CPU backend emits), runs about
twice as fast there (bench/RESULTS.md, 2026-12-02). On Intel CPUs the two measured alike, so MKL
stays. ``linear(x, weight, bias)`` is ``F.linear`` with that choice made once per process:

- ``UER_LINEAR_BACKEND=onednn`` or ``mkl`` forces a backend; ``auto`` (the default) takes oneDNN
  on a non-Intel CPU whose torch kernels use AVX-512, MKL elsewhere. The choice depends on the
  machine only, so a run and its resumed run compute alike.
- oneDNN serves fp32 CPU tensors outside autocast and torch.compile; everything else (CUDA,
  bf16/fp16, autocast, compiling) takes ``F.linear``.
- With autograd the backward is oneDNN too: the input's gradient is ``grad @ W`` (a linear with
  ``W^T``), the weight's ``grad^T @ x``, the bias's a column sum.
- ``linear_add(x, h, weight, bias)`` is ``x + linear(h)``, the residual sum fused into the gemm
  without autograd (``None`` when the backend is MKL, where the caller's own road is faster)."""
import os

import torch
import torch.nn.functional as F
from torch import nn

from uer.environment import LINEAR_BACKEND, read_choice

_chosen = None

# oneDNN keeps the kernels it built for the last 1024 shapes by default, each holding memory:
# batches of many lengths (NER: 3 epochs on MSRA train.tsv + dev) then took 2.4 GB of RSS
# against MKL's 1.44 GB; keeping 64 gave 1.8 GB at the same speed (1024: 47 s, 128: 46 s, 32:
# 47 s, 0: 52 s). A value the user sets in the environment wins.
_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
PRIMITIVE_CACHE_CAPACITY = 64


def _cpu_vendor():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _onednn_available():
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def backend():
    """"onednn" or "mkl", decided on first use (see the module docstring)."""
    global _chosen
    if _chosen is None:
        wanted = read_choice(LINEAR_BACKEND)
        if wanted == "auto":
            wanted = ("onednn" if _cpu_vendor() not in ("GenuineIntel", "")
                      and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
                      else "mkl")
        _chosen = "onednn" if wanted == "onednn" and _onednn_available() else "mkl"
        if _chosen == "onednn":
            # read when oneDNN builds its first kernel, which is about now
            os.environ.setdefault(_CACHE_ENV, str(PRIMITIVE_CACHE_CAPACITY))
    return _chosen


def _reset_backend():
    """Forget the choice (tests that set the environment variable)."""
    global _chosen
    _chosen = None


# oneDNN builds (and keeps) a kernel for each shape it meets; callers that choose their row
# counts (the encoder's packed inference road) round them up to a multiple of this.
ONEDNN_ROW_MULTIPLE = 32


def preferred_row_multiple():
    """The row-count multiple a caller should round to: ONEDNN_ROW_MULTIPLE on oneDNN, else 1."""
    return ONEDNN_ROW_MULTIPLE if backend() == "onednn" else 1


def _serves(x, weight):
    return (x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and backend() == "onednn"
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


def _gemm(x, weight, bias=None):
    """``x @ weight^T + bias`` on oneDNN; ``x`` [..., in], ``weight`` [out, in] (any strides)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def _register_flop_formulas():
    """torch.utils.flop_counter counts aten's matmuls only: teach it oneDNN's linear (2 * rows *
    in * out), so FLOP counts and MFU (bench/pretrain_bench.py) stay right on this road."""
    try:
        from torch.utils.flop_counter import register_flop_formula
        ops = torch.ops.mkldnn._linear_pointwise
    except (ImportError, AttributeError, RuntimeError):
        return

    @register_flop_formula(ops)
    def _linear_flops(x_shape, *args, out_shape=None, **kwargs):
        # default: (X, W, B, attr, scalars, algorithm); binary: (X, other, W, B, attr)
        w_shape = args[0] if len(args) == 5 else args[1]
        rows = 1
        for size in x_shape[:-1]:
            rows *= size
        return 2 * rows * w_shape[0] * w_shape[1]


if _onednn_available():
    _register_flop_formulas()


class _OneDnnLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _gemm(x, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.size(-1))
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _gemm(grad, weight.t())
        if ctx.needs_input_grad[1]:
            grad_weight = _gemm(rows.t(), x.reshape(-1, x.size(-1)).t())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_x, grad_weight, grad_bias


def linear(x, weight, bias=None):
    """``F.linear(x, weight, bias)``, on oneDNN where that backend serves (module docstring)."""
    if not _serves(x, weight) or x.numel() == 0:
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _OneDnnLinear.apply(x, weight, bias)
    return _gemm(x, weight, bias)


def linear_add(x, h, weight, bias):
    """``x + linear(h)`` in one oneDNN call without autograd (a new tensor), or None where
    oneDNN does not serve (MKL backend, autograd, autocast, other dtypes or devices)."""
    if (torch.is_grad_enabled() or not _serves(h, weight) or x.dtype != torch.float32
            or x.shape[:-1] != h.shape[:-1] or h.numel() == 0):
        return None
    return torch.ops.mkldnn._linear_pointwise.binary(h, x, weight, bias, "add")


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and names) computed by ``linear`` above."""

    def forward(self, x):
        return linear(x, self.weight, self.bias)
