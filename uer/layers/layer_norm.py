"""UER-py's layer normalisation (SPEC §4.1), kept for checkpoint-level parity, and the standard
formula for models converted from HuggingFace / Google BERT.

Config keys (read by ``layer_norm_from_args``; the bert/word embeddings, the bert/gpt transformer
layers and the mlm/bert/albert targets build their LayerNorms through it):
- ``layernorm``: ``"uer"`` (default, also when the key is absent: UER-py's formula, so every
  UER-py checkpoint and config computes as before) or ``"standard"`` (torch/HuggingFace/Google:
  biased variance, eps inside the square root).
- ``layernorm_eps``: eps of the standard formula (default 1e-12, BERT's); the UER formula always
  adds 1e-6 to the std.
Both keep the parameter names ``gamma`` and ``beta``, so checkpoints are interchangeable.
"""
import torch
import torch.nn.functional as F
from torch import nn

from uer.errors import UerError
from uer.hparams import Key
from uer.layers.uer_layer_norm_kernel import uer_layer_norm

LAYERNORM_FORMULAS = ("uer", "standard")
STANDARD_EPS = 1e-12  # BertConfig.layer_norm_eps and Google BERT's layer_norm


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
        if x.numel() == 0:  # e.g. an MLM batch with no masked token
            return x * self.gamma + self.beta
        # A fused kernel and a closed-form backward (uer.layers.uer_layer_norm_kernel): the same
        # values as the composed formula, in a third of the passes over the tensor.
        return uer_layer_norm(x, self.gamma, self.beta, self.eps)


class StandardLayerNorm(nn.Module):
    """``gamma * (x - mean) / sqrt(biased_var + eps) + beta``: the formula of ``torch.nn.LayerNorm``
    (and so of HuggingFace and Google BERT), computed by the same kernel so converted models
    match them to rounding. Statistics in fp32, as ``LayerNorm``."""

    def __init__(self, hidden_size, eps=STANDARD_EPS):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(hidden_size))
        self.beta = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x):
        dtype = x.dtype
        out = F.layer_norm(x.float(), self.gamma.shape, self.gamma.float(), self.beta.float(),
                           self.eps)
        return out.to(dtype)


def build_layer_norm(hidden_size, formula=None, eps=None):
    """A LayerNorm of the named formula (None = "uer"); ``eps`` applies to "standard" only."""
    formula = formula or "uer"
    if formula == "uer":
        return LayerNorm(hidden_size)
    if formula == "standard":
        return StandardLayerNorm(hidden_size, STANDARD_EPS if eps is None else float(eps))
    raise UerError(f"config key 'layernorm' has unknown value {formula!r}; use one of: "
                   + ", ".join(LAYERNORM_FORMULAS))


# The config keys of layer_norm_from_args, for the config_keys of the components that call it.
LAYER_NORM_KEYS = (Key("layernorm", str, choices=LAYERNORM_FORMULAS, default=None),
                   Key("layernorm_eps", float, above=0, default=None))


def layer_norm_from_args(args, hidden_size):
    """``build_layer_norm`` with the config keys ``layernorm`` and ``layernorm_eps`` of ``args``."""
    return build_layer_norm(hidden_size, getattr(args, "layernorm", None),
                            getattr(args, "layernorm_eps", None))
