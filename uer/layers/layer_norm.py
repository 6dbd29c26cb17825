"""UER-py's layer normalisation (SPEC §4.1), kept for checkpoint-level parity."""
import torch
from torch import nn


class LayerNorm(nn.Module):
    """``gamma * (x - mean) / (std + eps) + beta`` over the last dimension.

    Unlike ``torch.nn.LayerNorm`` the standard deviation is the *unbiased* one (N - 1) and eps
    is added to the std, not to the variance. UER-py checkpoints were trained with this formula,
    so it is required to reproduce their outputs. Parameters are named ``gamma`` and ``beta``
    (the init rule of SPEC §4.7 skips them by those names).
    """

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(hidden_size))
        self.beta = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x):
        if x.numel() == 0:  # e.g. an MLM batch with no masked token: std would warn
            return x * self.gamma + self.beta
        dtype = x.dtype
        x = x.float()  # statistics in fp32 even under fp16/bf16 autocast
        centered = x - x.mean(-1, keepdim=True)
        # Unbiased std, as in UER-py, through a vector norm: the same value as x.std(), but
        # torch's std kernel is about 10x slower on CPU and made LayerNorm a tenth of a forward.
        unbias = max(x.size(-1) - 1, 1) ** -0.5
        std = torch.linalg.vector_norm(centered, dim=-1, keepdim=True) * unbias
        return torch.addcmul(self.beta, centered / (std + self.eps), self.gamma).to(dtype)
