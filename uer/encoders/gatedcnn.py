"""``--encoder gatedcnn``: gated linear units over causal convolutions (Dauphin et al. 2017),
UER-py's GatedcnnEncoder.

Layer 1 reads the embeddings (kernel kernel_size x emb_size), layers 2..N the hidden states
(kernel kernel_size x 1); each computes ``(conv(x) + conv_b) * sigmoid(gate(x) + gate_b)``.
After every ``block_size`` of the later layers the output saved at the previous residual point
is added (the first residual point is layer 1's output). ``conv_b*``/``gate_b*`` are extra bias
parameters on top of the convolutions' own biases, kept for checkpoint compatibility.
"""
import torch
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._causal_conv import apply_first, apply_next, first_conv, next_convs
from uer.hparams import EMB_SIZE, HIDDEN_SIZE, KERNEL_SIZE, LAYERS_NUM, Key, read


def _extra_bias(hidden_size):
    return nn.Parameter(torch.zeros(1, hidden_size, 1, 1))


@str2encoder.register("gatedcnn")
class GatedcnnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = True  # causal convolutions: position t reads 0..t
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, KERNEL_SIZE,
                   Key("block_size", int, minimum=1, default=2))  # UER-py's --block_size default

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        kernel_size, self.block_size = config.kernel_size, config.block_size
        hidden_size, later = config.hidden_size, config.layers_num - 1
        self.conv_1 = first_conv(config.emb_size, hidden_size, kernel_size)
        self.gate_1 = first_conv(config.emb_size, hidden_size, kernel_size)
        self.conv_b1 = _extra_bias(hidden_size)
        self.gate_b1 = _extra_bias(hidden_size)
        self.conv = next_convs(hidden_size, kernel_size, later)
        self.gate = next_convs(hidden_size, kernel_size, later)
        self.conv_b = nn.ParameterList(_extra_bias(hidden_size) for _ in range(later))
        self.gate_b = nn.ParameterList(_extra_bias(hidden_size) for _ in range(later))

    @staticmethod
    def _glu(value, gate, value_bias, gate_bias):
        # [1, H, 1, 1] extra biases broadcast over [B, H, L].
        return (value + value_bias.view(1, -1, 1)) * torch.sigmoid(gate + gate_bias.view(1, -1, 1))

    def forward(self, emb, seg):
        hidden = self._glu(apply_first(self.conv_1, emb), apply_first(self.gate_1, emb),
                           self.conv_b1, self.gate_b1)
        residual = hidden
        for i in range(len(self.conv)):
            hidden = self._glu(apply_next(self.conv[i], hidden), apply_next(self.gate[i], hidden),
                               self.conv_b[i], self.gate_b[i])
            if (i + 1) % self.block_size == 0:
                hidden = hidden + residual
                residual = hidden
        return hidden.transpose(1, 2)
