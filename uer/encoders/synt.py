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
from uer.errors import UerError
from uer.layers.multi_headed_attn import padding_mask
from uer.layers.synthesizer import SynthesizerLayer

DEFAULT_SYNT_TYPE = "dense"
DEFAULT_HIDDEN_ACT = "gelu"


@str2encoder.register("synt")
class SyntEncoder(nn.Module):
    # Shorter inputs use the first L columns of the fixed-width weights, padding keys masked.
    padding_invariant = True
    causal = False

    def __init__(self, args):
        super().__init__()
        for key in ("seq_length", "feedforward_size"):
            if not getattr(args, key, None):
                raise UerError(f"config: --encoder synt needs '{key}' in the config")
        self.linear = input_projection(args)
        self.synthesizer = nn.ModuleList(
            SynthesizerLayer(getattr(args, "synt_type", None) or DEFAULT_SYNT_TYPE,
                             args.seq_length, args.hidden_size, args.feedforward_size,
                             args.dropout, getattr(args, "hidden_act", None) or DEFAULT_HIDDEN_ACT)
            for _ in range(args.layers_num))

    def forward(self, emb, seg):
        hidden = project(self.linear, emb)
        mask = padding_mask(seg, hidden.dtype)[:, 0]  # [B, 1, L]: broadcasts over query rows
        for layer in self.synthesizer:
            hidden = layer(hidden, mask)
        return hidden
