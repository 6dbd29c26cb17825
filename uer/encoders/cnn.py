"""``--encoder cnn``: a stack of causal convolutions without nonlinearity (UER-py's CnnEncoder).

``conv_1`` (kernel kernel_size x emb_size) followed by ``layers_num`` H -> H convolutions
``conv.<i>`` (kernel kernel_size x 1). ``block_size`` is read by UER-py but unused.
"""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._causal_conv import causal_cnn, first_conv, next_convs

DEFAULT_KERNEL_SIZE = 3  # UER-py's --kernel_size default


@str2encoder.register("cnn")
class CnnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = True  # causal convolutions (and a forward LSTM): position t reads 0..t

    def __init__(self, args):
        super().__init__()
        kernel_size = getattr(args, "kernel_size", DEFAULT_KERNEL_SIZE)
        self.conv_1 = first_conv(args.emb_size, args.hidden_size, kernel_size)
        self.conv = next_convs(args.hidden_size, kernel_size, args.layers_num)

    def forward(self, emb, seg):
        return causal_cnn(self.conv_1, self.conv, emb)
