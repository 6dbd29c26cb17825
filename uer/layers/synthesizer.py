"""Synthesizer attention (Tay et al. 2020, "Synthesizer: Rethinking Self-Attention"), as UER-py's
synt encoder used it: attention weights that do not come from query-key dot products.

- dense: weights for row t come from token t alone, ``F_linear_2(relu(F_linear_1(h_t)))``, one
  score per position of a fixed-length (``seq_length``) window.
- random: one learned [seq_length, seq_length] score matrix ``R`` shared by every input.

Values are ``G_linear(h)``, the mixed values pass through ``final_linear``. Padding keys get
-10000 as in the transformer. A layer is wrapped like a post-LN TransformerLayer (submodules
``att``, ``dropout_1``, ``layer_norm_1``, ``feed_forward``, ``dropout_2``, ``layer_norm_2``).
"""
import torch
from torch import nn

from uer.errors import UerError
from uer.layers.dropout import Dropout
from uer.layers.layer_norm import LayerNorm
from uer.layers.onednn_linear import Linear
from uer.layers.position_ffn import PositionwiseFeedForward


def _check_length(seq_length, max_length):
    if seq_length > max_length:
        raise UerError(f"synt encoder: input of length {seq_length} is longer than the config's "
                       f"seq_length {max_length}, the synthesizer's fixed attention width")


class _SynthesizedAttention(nn.Module):
    """Mixes ``G_linear(hidden)`` with softmax(scores + mask) and applies ``final_linear``."""

    def __init__(self, hidden_size, dropout):
        super().__init__()
        self.dropout = Dropout(dropout)
        self.G_linear = Linear(hidden_size, hidden_size)
        self.final_linear = Linear(hidden_size, hidden_size)

    def scores(self, hidden):
        raise NotImplementedError

    def forward(self, hidden, mask):
        """hidden [B, L, H]; mask additive, broadcastable to [B, L, L]."""
        probs = self.dropout(torch.softmax(self.scores(hidden) + mask, dim=-1))
        return self.final_linear(torch.matmul(probs, self.G_linear(hidden)))


class DenseAttention(_SynthesizedAttention):
    def __init__(self, seq_length, hidden_size, dropout):
        super().__init__(hidden_size, dropout)
        self.max_length = seq_length
        self.F_linear_1 = Linear(hidden_size, seq_length)
        self.F_linear_2 = Linear(seq_length, seq_length)

    def scores(self, hidden):
        length = hidden.size(1)
        _check_length(length, self.max_length)
        scores = self.F_linear_2(torch.relu(self.F_linear_1(hidden)))
        # A shorter input behaves as if padded to seq_length with masked keys: those columns
        # would get weight exp(-10000) ~ 0, so dropping them is the same computation.
        return scores[:, :, :length]


class RandomAttention(_SynthesizedAttention):
    def __init__(self, seq_length, hidden_size, dropout):
        super().__init__(hidden_size, dropout)
        self.max_length = seq_length
        self.R = nn.Parameter(torch.randn(seq_length, seq_length))

    def scores(self, hidden):
        length = hidden.size(1)
        _check_length(length, self.max_length)
        return self.R[:length, :length].to(hidden.dtype)


SYNT_TYPES = {"dense": DenseAttention, "random": RandomAttention}


class SynthesizerLayer(nn.Module):
    """out = LN2(y + Drop(FFN(y))), y = LN1(x + Drop(att(x)))."""

    def __init__(self, synt_type, seq_length, hidden_size, feedforward_size, dropout,
                 hidden_act="gelu"):
        super().__init__()
        if synt_type not in SYNT_TYPES:
            raise UerError(f"config: synt_type {synt_type!r} is unknown; use one of: "
                           + ", ".join(sorted(SYNT_TYPES)))
        self.att = SYNT_TYPES[synt_type](seq_length, hidden_size, dropout)
        self.dropout_1 = Dropout(dropout)
        self.layer_norm_1 = LayerNorm(hidden_size)
        self.feed_forward = PositionwiseFeedForward(hidden_size, feedforward_size, hidden_act)
        self.dropout_2 = Dropout(dropout)
        self.layer_norm_2 = LayerNorm(hidden_size)

    def forward(self, hidden, mask):
        inter = self.layer_norm_1(hidden + self.dropout_1(self.att(hidden, mask)))
        return self.layer_norm_2(inter + self.dropout_2(self.feed_forward(inter)))
