"""UER-py's LayerNorm formula, ``gamma * (x - mean) / (std + eps) + beta`` with the *unbiased*
std and eps on the std, computed in few passes over the tensor, with a hand-written backward.

Why: composed of torch ops (mean, subtract, vector norm, divide, addcmul) the formula reads and
writes the activation five times forward and about fifteen times backward, where the broadcast
divisions' gradients are slow reductions; HuggingFace's LayerNorm is one fused kernel.

Forward: torch's fused ``native_layer_norm`` (a negligible eps) gives ``xhat = (x - mean) * rstd``
with the biased ``rstd``; each row is then rescaled to UER's denominator by
``k = 1 / (sqrt(n / (n - 1)) + eps * rstd)`` (so ``xhat * k = (x - mean) / (std_unbiased + eps)``
exactly), and ``gamma``/``beta`` applied. Inference: two passes (the fused kernel applies gamma,
one addcmul applies k and beta); training: three, keeping ``xhat * k`` for the backward. A row
with zero variance gives ``beta`` exactly (the composed formula in fp32 can give ``beta`` plus
rounding noise divided by eps there, when the row's mean is not exact).

Backward: the gradient of the composed formula (what autograd computes for it) in closed form.
With ``d = std + eps``, ``xh = (x - mean) / d``, ``g = dy * gamma`` and ``n`` features::

    dx     = g / d - xh * sum(g * xh) / ((n - 1) * std) - mean over the row of those two terms
    dgamma = sum over rows of dy * xh,   dbeta = sum over rows of dy

and where std is 0 (a constant row) the second term is 0, as torch's norm gradient is there.
Statistics and gradients are computed in fp32 for fp32/bf16/fp16 input (fp64 for fp64), the
result and the input's gradient come back in the input's dtype.
"""
import torch

# The eps handed to native_layer_norm, only so that a constant row gets a finite rstd. It is
# added to the biased variance, so the std recovered from rstd is off by at most
# sqrt(_TINY_VAR) = 1e-15 in absolute terms: a billionth of UER's eps, which it is added to.
_TINY_VAR = 1e-30


def _compute_dtype(x):
    """fp32 for fp32/bf16/fp16 input (statistics in fp32 even under autocast), fp64 for fp64."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _fused(x, weight):
    """native_layer_norm of ``x``: ``(x - mean) * rstd_biased * weight`` and rstd. (Its CPU
    kernel measured 1.8x slower with no weight than with one, so callers pass ones.)"""
    out, _, rstd = torch.native_layer_norm(x.to(_compute_dtype(x)), (x.size(-1),), weight, None,
                                           _TINY_VAR)
    return out, rstd


def _row_factor(rstd, features, eps):
    """k with ``(x - mean) * rstd * k = (x - mean) / (std_unbiased + eps)``, per row [..., 1]:
    std_unbiased = c / rstd with c = sqrt(n / (n - 1)), so k = 1 / (c + eps * rstd)."""
    unbias = (features / max(features - 1, 1)) ** 0.5
    return rstd.mul(eps).add_(unbias).reciprocal_()


def uer_layer_norm_inference(x, gamma, beta, eps):
    """The formula without an autograd graph (inference mode, no_grad): two passes."""
    dtype = _compute_dtype(x)
    scaled, rstd = _fused(x, gamma.to(dtype))
    factor = _row_factor(rstd, x.size(-1), eps)
    # written over ``scaled`` (a fresh tensor): no second output buffer to allocate
    return torch.addcmul(beta.to(dtype), factor, scaled, out=scaled).to(x.dtype)


class UerLayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        xhat, rstd = _fused(x, torch.ones_like(gamma, dtype=_compute_dtype(x)))
        factor = _row_factor(rstd, x.size(-1), eps)
        xh = xhat.mul_(factor)  # (x - mean) / (std + eps)
        ctx.save_for_backward(xh, rstd * factor, rstd, gamma)  # 1 / (std + eps), 1 / std_biased
        ctx.input_dtype = x.dtype
        return torch.addcmul(beta.to(xh.dtype), xh, gamma.to(xh.dtype)).to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        xh, inv_denominator, rstd, gamma = ctx.saved_tensors
        features = xh.size(-1)
        rows_shape = xh.shape[:-1]
        dy = grad.to(xh.dtype).reshape(-1, features)
        xh2 = xh.reshape(-1, features)
        gamma_c = gamma.to(xh.dtype)
        dy_xh = dy * xh2
        grad_gamma = grad_beta = None
        if ctx.needs_input_grad[1]:
            grad_gamma = dy_xh.sum(0).to(gamma.dtype)
        if ctx.needs_input_grad[2]:
            grad_beta = dy.sum(0).to(gamma.dtype)
        if not ctx.needs_input_grad[0]:
            return None, grad_gamma, grad_beta, None
        inv_denominator = inv_denominator.reshape(-1, 1)
        rstd = rstd.reshape(-1, 1)
        sum_g_xh = torch.mv(dy_xh, gamma_c).unsqueeze(-1)  # sum(g * xh) per row
        mean_g = torch.mv(dy, gamma_c).unsqueeze(-1).div_(features)
        # The std's share: sum(g * xh) / ((n - 1) * std_unbiased) = sum(g * xh) * rstd / (c (n - 1)).
        # A constant row has xh == 0, so it is 0 there (rstd is finite: see _TINY_VAR).
        unbias = (features / max(features - 1, 1)) ** 0.5
        std_share = sum_g_xh.mul_(rstd).div_(unbias * max(features - 1, 1))
        mean_xh = xh2.mean(-1, keepdim=True)
        # dx = inv_d * (g - mean(g) - std_share * d * (xh - mean(xh))); in-place passes over a
        # tensor of dy's shape measured faster than an addcmul whose first operand is per row.
        row_offset = (std_share * mean_xh).div_(inv_denominator).sub_(mean_g)
        grad_x = dy * gamma_c
        grad_x.addcmul_(xh2, std_share.div(inv_denominator).neg_())
        grad_x.add_(row_offset).mul_(inv_denominator)
        return grad_x.view(*rows_shape, features).to(ctx.input_dtype), grad_gamma, grad_beta, None


def uer_layer_norm(x, gamma, beta, eps):
    """UER-py's LayerNorm of ``x`` over its last dimension (see the module docstring)."""
    if torch.is_grad_enabled() and (x.requires_grad or gamma.requires_grad
                                    or beta.requires_grad):
        return UerLayerNormFunction.apply(x, gamma, beta, eps)
    return uer_layer_norm_inference(x, gamma, beta, eps)
