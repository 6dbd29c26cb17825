"""``--encoder synt``: ``layers_num`` synthesizer layers ``synthesizer.<i>`` (UER-py's SyntEncoder,
which crashed at construction there, SPEC bug 12).

Config keys: ``seq_length`` (the synthesizer's fixed attention width: longer inputs are refused),
``synt_type`` (dense or random), ``feedforward_size``, and ``hidden_act`` (gelu when absent:
UER-py's synt configs had none). When emb_size != hidden_size a Linear ``linear`` projects the
embeddings first.
"""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._projection import input_projection, project
from uer.hparams import (DROPOUT, EMB_SIZE, FEEDFORWARD_SIZE, HIDDEN_SIZE, LAYERS_NUM, Key,
                         read)
from uer.layers.activation import HIDDEN_ACT
from uer.layers.multi_headed_attn import padding_mask
from uer.layers.synthesizer import SYNT_TYPES, SynthesizerLayer


@str2encoder.register("synt")
class SyntEncoder(nn.Module):
    # Shorter inputs use the first L columns of the fixed-width weights, padding keys masked.
    padding_invariant = True
    causal = False
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, FEEDFORWARD_SIZE, DROPOUT,
                   Key("seq_length", int, minimum=1),
                   Key("synt_type", str, choices=tuple(SYNT_TYPES), default="dense"),
                   # UER-py's synt configs had no hidden_act: gelu then.
                   Key("hidden_act", str, choices=HIDDEN_ACT.choices, default="gelu"))

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        self.linear = input_projection(config.emb_size, config.hidden_size)
        self.synthesizer = nn.ModuleList(
            SynthesizerLayer(config.synt_type, config.seq_length, config.hidden_size,
                             config.feedforward_size, config.dropout, config.hidden_act)
            for _ in range(config.layers_num))

    def forward(self, emb, seg):
        hidden = project(self.linear, emb)
        mask = padding_mask(seg, hidden.dtype)[:, 0]  # [B, 1, L]: broadcasts over query rows
        for layer in self.synthesizer:
            hidden = layer(hidden, mask)
        return hidden
