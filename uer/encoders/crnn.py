"""``--encoder crnn`` (UER-py's CrnnEncoder): a causal CNN stack (``conv_1`` plus layers_num - 1
convolutions ``conv.<i>``) whose outputs feed an LSTM (layers_num layers), then dropout.

UER-py built the LSTM with input size emb_size although it reads the CNN's hidden_size-wide
output (SPEC bug 17). We use hidden_size: identical keys and shapes when the sizes are equal.
"""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._causal_conv import causal_cnn, first_conv, next_convs
from uer.encoders._recurrent import build_rnn, run_rnn
from uer.hparams import DROPOUT, EMB_SIZE, HIDDEN_SIZE, KERNEL_SIZE, LAYERS_NUM, read
from uer.layers.dropout import Dropout


@str2encoder.register("crnn")
class CrnnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = True  # causal convolutions and a forward LSTM: position t reads 0..t
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, DROPOUT, KERNEL_SIZE)

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        hidden_size = config.hidden_size
        self.conv_1 = first_conv(config.emb_size, hidden_size, config.kernel_size)
        self.conv = next_convs(hidden_size, config.kernel_size, config.layers_num - 1)
        self.rnn = build_rnn(nn.LSTM, hidden_size, hidden_size, config.layers_num, config.dropout)
        self.drop = Dropout(config.dropout)

    def forward(self, emb, seg):
        convolved = causal_cnn(self.conv_1, self.conv, emb)
        return self.drop(run_rnn(self.rnn, convolved))
