"""``--encoder rcnn`` (UER-py's RcnnEncoder): an LSTM (emb_size -> hidden_size, layers_num layers)
whose outputs feed a causal CNN stack (``conv_1`` plus layers_num - 1 convolutions ``conv.<i>``).

UER-py sized ``conv_1`` by emb_size although it reads the LSTM's hidden_size-wide output, so it
only ran with emb_size == hidden_size (SPEC bug 17). We size it by hidden_size: identical keys
and shapes when the sizes are equal, and a working model when they differ.
"""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._causal_conv import causal_cnn, first_conv, next_convs
from uer.encoders._recurrent import build_rnn, run_rnn
from uer.hparams import DROPOUT, EMB_SIZE, HIDDEN_SIZE, KERNEL_SIZE, LAYERS_NUM, read
from uer.layers.dropout import Dropout


@str2encoder.register("rcnn")
class RcnnEncoder(nn.Module):
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = True  # a forward LSTM and causal convolutions: position t reads 0..t
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, DROPOUT, KERNEL_SIZE)

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        hidden_size = config.hidden_size
        self.rnn = build_rnn(nn.LSTM, config.emb_size, hidden_size, config.layers_num,
                             config.dropout)
        self.drop = Dropout(config.dropout)
        self.conv_1 = first_conv(hidden_size, hidden_size, config.kernel_size)
        self.conv = next_convs(hidden_size, config.kernel_size, config.layers_num - 1)

    def forward(self, emb, seg):
        recurrent = self.drop(run_rnn(self.rnn, emb))
        return causal_cnn(self.conv_1, self.conv, recurrent)
