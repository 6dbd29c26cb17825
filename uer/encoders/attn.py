"""``--encoder attn``: ``layers_num`` bare multi-head self-attention layers (UER-py's
AttnEncoder): no residual, no layer norm, no feed-forward. Padding keys are masked."""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._projection import input_projection, project
from uer.errors import UerError
from uer.layers.multi_headed_attn import MultiHeadedAttention, padding_mask


@str2encoder.register("attn")
class AttnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = False

    def __init__(self, args):
        super().__init__()
        heads_num = getattr(args, "heads_num", None)
        if not heads_num:
            raise UerError("config: --encoder attn needs 'heads_num' in the config")
        self.linear = input_projection(args)
        self.self_attn = nn.ModuleList(
            MultiHeadedAttention(args.hidden_size, heads_num, args.dropout)
            for _ in range(args.layers_num))

    def forward(self, emb, seg):
        hidden = project(self.linear, emb)
        mask = padding_mask(seg, hidden.dtype)
        for layer in self.self_attn:
            hidden = layer(hidden, hidden, hidden, mask)
        return hidden
