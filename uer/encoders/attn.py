"""``--encoder attn``: ``layers_num`` bare multi-head self-attention layers (UER-py's
AttnEncoder): no residual, no layer norm, no feed-forward. Padding keys are masked."""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._projection import input_projection, project
from uer.hparams import DROPOUT, EMB_SIZE, HEADS_NUM, HIDDEN_SIZE, LAYERS_NUM, read
from uer.layers.multi_headed_attn import MultiHeadedAttention, padding_mask


@str2encoder.register("attn")
class AttnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = False
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, HEADS_NUM, DROPOUT)

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        self.linear = input_projection(config.emb_size, config.hidden_size)
        self.self_attn = nn.ModuleList(
            MultiHeadedAttention(config.hidden_size, config.heads_num, config.dropout)
            for _ in range(config.layers_num))

    def forward(self, emb, seg):
        hidden = project(self.linear, emb)
        mask = padding_mask(seg, hidden.dtype)
        for layer in self.self_attn:
            hidden = layer(hidden, hidden, hidden, mask)
        return hidden
