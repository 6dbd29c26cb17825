"""Transformer layer with UER-py's submodule names (SPEC §4.1): post-LN (UER-py's, the default)
or pre-LN (``positioning="pre"``, TencentPretrain's ``layernorm_positioning``)."""
from torch import nn

from uer.layers.dropout import Dropout
from uer.layers.layer_norm import build_layer_norm
from uer.layers.multi_headed_attn import MultiHeadedAttention
from uer.layers.position_ffn import PositionwiseFeedForward


POSITIONINGS = ("post", "pre")


class TransformerLayer(nn.Module):
    """post: y = LN1(x + Drop(MHA(x))); out = LN2(y + Drop(FFN(y))).
    pre:  y = x + Drop(MHA(LN1(x))); out = y + Drop(FFN(LN2(y))) (the encoder adds a final LN).
    Pre-LN keeps an identity path from the embedding to the output, so gradients reach every
    layer at full scale from the first step: it trains at higher learning rates without the
    warm-up that post-LN needs.

    Build with ``TransformerLayer(hidden_size, heads_num, feedforward_size, dropout, hidden_act)``;
    ``layernorm``/``layernorm_eps`` pick the LayerNorm
    formula (uer.layers.layer_norm; default UER-py's). forward(hidden [B,L,H], mask=None,
    is_causal=False): the mask is the additive attention mask of ``multi_headed_attn.padding_mask``.
    """

    def __init__(self, hidden_size, heads_num, feedforward_size, dropout, hidden_act="gelu",
                 layernorm=None, layernorm_eps=None, positioning="post"):
        super().__init__()
        self.pre_norm = positioning == "pre"
        self.self_attn = MultiHeadedAttention(hidden_size, heads_num, dropout)
        self.dropout_1 = Dropout(dropout)
        self.layer_norm_1 = build_layer_norm(hidden_size, layernorm, layernorm_eps)
        self.feed_forward = PositionwiseFeedForward(hidden_size, feedforward_size, hidden_act)
        self.dropout_2 = Dropout(dropout)
        self.layer_norm_2 = build_layer_norm(hidden_size, layernorm, layernorm_eps)

    def forward(self, hidden, mask=None, is_causal=False, queries=None, owns_input=False):
        """``queries`` (not with is_causal) limits the rows computed: an int n for the first n
        positions, or a LongTensor [B, Q] of positions (output [B, Q, H] in that order). Every
        position is still attended to, so those rows come out as without it. ``owns_input``:
        the caller gives ``hidden`` up (inference may write the residual sum into it)."""
        if queries is None:
            query = hidden
        elif isinstance(queries, int):
            query = hidden[:, :queries]
        else:  # a gathered copy: ours to overwrite
            query = hidden.gather(1, queries.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
            owns_input = True
        if self.pre_norm:
            return self._forward_pre(hidden, query, queries, mask, is_causal, owns_input)
        if self.training and self.dropout_1.p > 0.0:
            attended = self.self_attn(query, hidden, hidden, mask, is_causal=is_causal)
            inter = self.layer_norm_1(query + self.dropout_1(attended))
            return self.layer_norm_2(inter + self.dropout_2(self.feed_forward(inter)))
        # No dropout: the residual sums may go into buffers the layer owns (uer/layers/residual.py)
        inter = self.layer_norm_1(self.self_attn(query, hidden, hidden, mask, is_causal=is_causal,
                                                 residual=query, overwrite=owns_input
                                                 and not isinstance(queries, int)))
        return self.layer_norm_2(self.feed_forward(inter, residual=inter, overwrite=True))

    def _forward_pre(self, hidden, query, queries, mask, is_causal, owns_input):
        normed = self.layer_norm_1(hidden)
        if queries is None:
            normed_query = normed
        elif isinstance(queries, int):
            normed_query = normed[:, :queries]
        else:
            normed_query = normed.gather(1, queries.unsqueeze(-1).expand(-1, -1, normed.size(-1)))
        if self.training and self.dropout_1.p > 0.0:
            inter = query + self.dropout_1(self.self_attn(normed_query, normed, normed, mask,
                                                          is_causal=is_causal))
            return inter + self.dropout_2(self.feed_forward(self.layer_norm_2(inter)))
        inter = self.self_attn(normed_query, normed, normed, mask, is_causal=is_causal,
                               residual=query, overwrite=owns_input
                               and not isinstance(queries, int))
        return self.feed_forward(self.layer_norm_2(inter), residual=inter, overwrite=True)

    def forward_packed(self, packed, rows, mask, keep=None):
        """The layer on the real rows only (inference: no dropout): ``packed`` [T, H] holds the
        rows of a [B, L, H] batch that ``rows`` (multi_headed_attn.PackedRows) names. Returns
        those rows [T, H] of the output, or with ``keep`` (bool [T]) only the kept ones (every
        row still serves as key and value)."""
        # ``packed`` is the encoder's own buffer (an index_select or a layer's output)
        residual = packed if keep is None else packed[keep]
        if self.pre_norm:
            inter = self.self_attn.forward_packed(self.layer_norm_1(packed), rows, mask, keep,
                                                  residual=residual)
            return self.feed_forward(self.layer_norm_2(inter), residual=inter, overwrite=True)
        inter = self.layer_norm_1(self.self_attn.forward_packed(packed, rows, mask, keep,
                                                                residual=residual))
        return self.layer_norm_2(self.feed_forward(inter, residual=inter, overwrite=True))
