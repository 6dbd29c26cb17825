"""``--encoder cnn``: a stack of causal convolutions without nonlinearity (UER-py's CnnEncoder).

``conv_1`` (kernel kernel_size x emb_size) followed by ``layers_num`` H -> H convolutions
``conv.<i>`` (kernel kernel_size x 1). ``block_size`` is read by UER-py but unused.
"""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._causal_conv import causal_cnn, first_conv, next_convs
from uer.hparams import EMB_SIZE, HIDDEN_SIZE, KERNEL_SIZE, LAYERS_NUM, read


@str2encoder.register("cnn")
class CnnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = True  # causal convolutions: position t reads 0..t
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, KERNEL_SIZE)

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        self.conv_1 = first_conv(config.emb_size, config.hidden_size, config.kernel_size)
        self.conv = next_convs(config.hidden_size, config.kernel_size, config.layers_num)

    def forward(self, emb, seg):
        return causal_cnn(self.conv_1, self.conv, emb)
