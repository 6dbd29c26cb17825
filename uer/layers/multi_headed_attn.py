"""Multi-head attention with UER-py's parameter names.

Two paths with the same result: without dropout on the attention probabilities (eval mode, or
dropout 0) torch's fused ``scaled_dot_product_attention`` kernel runs; in training with dropout
that kernel falls back on CPU to a generic "math" path, so the scores are computed directly
(UER-py's formula), which measured faster than the fallback. Self-attention (query, key and value
the same tensor) projects Q/K/V with one matmul on the concatenated weights; the parameters keep
their three names ``linear_layers.0/1/2`` so checkpoints are unchanged. Without autograd the
concatenated weights are kept between calls (uer/layers/qkv_weights.py says when they are
rebuilt)."""
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from uer.errors import UerError
from uer.layers.dropout import dropout as dropout_probs
from uer.layers.onednn_linear import Linear, linear
from uer.layers.qkv_weights import ConcatenatedWeights
from uer.layers.residual import add_linear

# UER-py adds -10000 to the scores of padding keys (instead of -inf): a row whose keys are all
# padding then attends uniformly instead of producing NaN.
MASK_VALUE = -10000.0


def padding_mask(seg, dtype=torch.float32):
    """Additive key mask [B, 1, 1, L] from segment ids: 0 for real tokens (seg > 0), -10000 for
    padding keys. Query rows are not masked, as in UER-py."""
    keep = (seg > 0).to(dtype)
    return ((1.0 - keep) * MASK_VALUE)[:, None, None, :]


def causal_mask(length, dtype, device):
    """Additive [L, L] mask hiding future keys (-inf), what SDPA's ``is_causal`` applies."""
    future = torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(length, length, dtype=dtype, device=device).masked_fill(future, float("-inf"))


class PackedRows(NamedTuple):
    """Where the rows of a packed [T, H] tensor sit in a [B, L] batch, worked out once per
    forward: ``index`` (LongTensor [T] into B * L), ``padding`` (the other positions),
    ``shape`` (B, L)."""
    index: torch.Tensor
    padding: torch.Tensor
    shape: tuple

    @classmethod
    def of(cls, real):
        """From ``real`` (bool [B, L]): its True positions are the packed rows."""
        flat = real.reshape(-1)
        return cls(flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1), tuple(real.shape))


class MultiHeadedAttention(nn.Module):
    """``linear_layers.0/1/2`` project Q/K/V (H -> H, with bias); ``final_linear`` mixes the heads.

    forward(query, key, value, mask=None, is_causal=False) with inputs [B, L, H]:
    ``mask`` is an additive mask broadcastable to [B, heads, Lq, Lk] (see ``padding_mask``);
    ``is_causal`` applies a lower-triangular mask instead. Dropout acts on the attention
    probabilities in training mode only. With ``residual`` ([B, Lq, H]) the output is
    ``residual + attention``; ``overwrite``: the caller gives ``residual`` up, and inference
    accumulates into it (uer/layers/residual.py).
    """

    def __init__(self, hidden_size, heads_num, dropout):
        super().__init__()
        if hidden_size % heads_num != 0:
            raise UerError(f"config: hidden_size {hidden_size} is not divisible by "
                           f"heads_num {heads_num}")
        self.hidden_size = hidden_size
        self.heads_num = heads_num
        self.per_head_size = hidden_size // heads_num
        self.dropout = dropout
        self.linear_layers = nn.ModuleList([Linear(hidden_size, hidden_size) for _ in range(3)])
        self.final_linear = Linear(hidden_size, hidden_size)
        self._concatenated = ConcatenatedWeights()

    def train(self, mode=True):
        self._concatenated.clear()  # evaluation after training starts from the current weights
        return super().train(mode)

    def _projection_weights(self, linears):
        """(weight, bias) of ``linears`` concatenated; kept between calls without autograd."""
        return self._concatenated.get(linears)

    def _split_heads(self, x):
        batch_size, seq_length, _ = x.shape
        return x.view(batch_size, seq_length, self.heads_num, self.per_head_size).transpose(1, 2)

    def _fused_projection(self, x, linears):
        """``x`` through several H -> H linears in one matmul on their concatenated weights
        (the cat costs far less than the matmuls it saves); one [B, heads, L, per_head] each."""
        weight, bias = self._projection_weights(linears)
        batch_size, seq_length, _ = x.shape
        projected = linear(x, weight, bias).view(batch_size, seq_length, len(linears),
                                                   self.heads_num, self.per_head_size)
        return projected.permute(2, 0, 3, 1, 4).unbind(0)

    def _project(self, query, key, value):
        """Q, K, V as [B, heads, L, per_head]."""
        if query is key and key is value:
            return self._fused_projection(query, self.linear_layers)
        if key is value:  # queries for a subset of rows: K and V still in one matmul
            k, v = self._fused_projection(key, self.linear_layers[1:])
            return self._split_heads(self.linear_layers[0](query)), k, v
        return tuple(self._split_heads(projection(x))
                     for projection, x in zip(self.linear_layers, (query, key, value)))

    def _scores(self, q, k, mask):
        """``q k^T / sqrt(per_head) + mask`` [B, heads, Lq, Lk]. With a mask, one ``baddbmm``
        applies the scale and adds the mask inside the batched matmul, instead of two more
        passes (and their backward) over the largest tensor of the layer."""
        scale = 1.0 / math.sqrt(self.per_head_size)
        if mask is None:
            return torch.matmul(q, k.transpose(-1, -2)).mul_(scale)
        batch, heads, query_length, _ = q.shape
        key_length = k.size(2)
        shape = torch.broadcast_shapes(mask.shape, (batch, heads, 1, key_length))
        mask = mask.expand(shape).reshape(batch * heads, shape[-2], key_length)
        scores = torch.baddbmm(mask, q.reshape(batch * heads, query_length, -1),
                               k.reshape(batch * heads, key_length, -1).transpose(1, 2),
                               alpha=scale)
        return scores.view(batch, heads, query_length, key_length)

    def forward_packed(self, packed, rows, mask, keep=None, residual=None):
        """Self-attention over the real rows only, without dropout: ``packed`` [T, H] holds the
        rows of a [B, L, H] batch that ``rows`` (a PackedRows) names. Q/K/V are projected for
        those rows alone and scattered back to [B, L] for the attention kernel (zeros in the
        other rows, which ``mask`` must hide as keys); the context of the same rows is gathered
        back (with ``keep``, bool [T], only the kept ones). Returns [T, H] (or [kept, H]): the
        rows ``forward`` gives, up to rounding; with ``residual`` (a buffer of those rows the
        caller gives up) plus it, accumulated into it."""
        batch_size, seq_length = rows.shape
        weight, bias = self._projection_weights(self.linear_layers)
        projected = linear(packed, weight, bias)
        full = projected.new_empty(batch_size * seq_length, projected.size(1))
        full.index_copy_(0, rows.index, projected)
        # zeros in the other rows, not garbage: a masked key's value still enters the product
        # (0 x NaN = NaN)
        full.index_fill_(0, rows.padding, 0.0)
        q, k, v = full.view(batch_size, seq_length, 3, self.heads_num,
                            self.per_head_size).permute(2, 0, 3, 1, 4).unbind(0)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        # [B, heads, L, d] -> [T, heads, d], gathered straight from the transposed view
        index = rows.index if keep is None else rows.index[keep]
        context = context.transpose(1, 2)[index // seq_length, index % seq_length]
        context = context.reshape(-1, self.hidden_size)
        if residual is None:
            return self.final_linear(context)
        return add_linear(residual, context, self.final_linear, overwrite=True)

    def forward(self, query, key, value, mask=None, is_causal=False, residual=None,
                overwrite=False):
        batch_size, seq_length, _ = query.shape
        q, k, v = self._project(query, key, value)
        if mask is not None:
            mask = mask.to(q.dtype)
        dropout = self.dropout if self.training else 0.0
        if dropout > 0.0:
            if mask is None and is_causal:
                mask = causal_mask(seq_length, q.dtype, q.device)
            scores = self._scores(q, k, mask)
            probs = dropout_probs(torch.softmax(scores, dim=-1), dropout)
            context = torch.matmul(probs, v)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                     is_causal=is_causal and mask is None)
        context = context.transpose(1, 2).reshape(batch_size, seq_length, self.hidden_size)
        if residual is None:
            return self.final_linear(context)
        return add_linear(residual, context, self.final_linear, overwrite)
