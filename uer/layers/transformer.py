"""Post-LN transformer layer with UER-py's submodule names (SPEC §4.1)."""
import torch
from torch import nn

from uer.layers.dropout import Dropout
from uer.layers.layer_norm import build_layer_norm
from uer.layers.multi_headed_attn import MultiHeadedAttention
from uer.layers.position_ffn import PositionwiseFeedForward


def _residual(x, branch):
    """``x + branch``; without autograd written over ``branch`` (a fresh output of the layer
    that nothing else holds), which saves allocating a buffer. Same sum: a + b == b + a.
    (Not when the dtypes differ, as under autocast: the sum then takes the wider one.)"""
    if torch.is_grad_enabled() or branch.dtype != x.dtype or branch.shape != x.shape:
        return x + branch
    return branch.add_(x)


class TransformerLayer(nn.Module):
    """y = LN1(x + Drop(MHA(x))); out = LN2(y + Drop(FFN(y))).

    Build with ``TransformerLayer(hidden_size, heads_num, feedforward_size, dropout, hidden_act)``;
    ``layernorm``/``layernorm_eps`` pick the LayerNorm
    formula (uer.layers.layer_norm; default UER-py's). forward(hidden [B,L,H], mask=None,
    is_causal=False): the mask is the additive attention mask of ``multi_headed_attn.padding_mask``.
    """

    def __init__(self, hidden_size, heads_num, feedforward_size, dropout, hidden_act="gelu",
                 layernorm=None, layernorm_eps=None):
        super().__init__()
        self.self_attn = MultiHeadedAttention(hidden_size, heads_num, dropout)
        self.dropout_1 = Dropout(dropout)
        self.layer_norm_1 = build_layer_norm(hidden_size, layernorm, layernorm_eps)
        self.feed_forward = PositionwiseFeedForward(hidden_size, feedforward_size, hidden_act)
        self.dropout_2 = Dropout(dropout)
        self.layer_norm_2 = build_layer_norm(hidden_size, layernorm, layernorm_eps)

    def forward(self, hidden, mask=None, is_causal=False, queries=None):
        """``queries`` (not with is_causal) limits the rows computed: an int n for the first n
        positions, or a LongTensor [B, Q] of positions (output [B, Q, H] in that order). Every
        position is still attended to, so those rows come out as without it."""
        if queries is None:
            query = hidden
        elif isinstance(queries, int):
            query = hidden[:, :queries]
        else:
            query = hidden.gather(1, queries.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
        attended = self.self_attn(query, hidden, hidden, mask, is_causal=is_causal)
        inter = self.layer_norm_1(_residual(query, self.dropout_1(attended)))
        return self.layer_norm_2(_residual(inter, self.dropout_2(self.feed_forward(inter))))

    def forward_packed(self, packed, index, shape, mask):
        """The layer on the real rows only (inference: no dropout): ``packed`` [T, H] holds the
        rows ``index`` of a [B, L, H] batch of ``shape`` (B, L), see
        MultiHeadedAttention.forward_packed. Returns the same rows [T, H] of the output."""
        inter = self.layer_norm_1(_residual(packed, self.self_attn.forward_packed(packed, index,
                                                                                   shape, mask)))
        return self.layer_norm_2(_residual(inter, self.feed_forward(inter)))
