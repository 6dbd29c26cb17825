"""``--encoder bilstm`` (UER-py's birnn_encoder.py, the ELMo encoder): two separate
unidirectional LSTM stacks. Unlike ``--encoder lstm --bidirectional`` (one torch RNN whose layers
mix both directions), the stacks never see each other's states, which is what the bilm target
needs: the forward half predicts the next token, the backward half the previous one."""
import torch
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._recurrent import RNN_KEYS, build_rnn, rnn_hidden_size, run_rnn
from uer.hparams import read
from uer.layers.dropout import Dropout


@str2encoder.register("bilstm")
class BilstmEncoder(nn.Module):
    """Output ``concat(forward, backward)``, each hidden_size / 2 wide.

    The backward stack reads the time-flipped sequence *including the padding* (as UER-py), and
    its output is flipped back, so position t of the backward half has read positions L-1..t.
    """

    causal = False
    padding_invariant = False  # the backward stack reads the trailing padding first
    # Only this encoder keeps the two directions apart in every layer (torch's bidirectional
    # lstm mixes them from layer 2 on): what --target bilm needs.
    separate_directions = True
    config_keys = RNN_KEYS

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        hidden_size = rnn_hidden_size(config.hidden_size, 2)
        self.rnn_forward = build_rnn(nn.LSTM, config.emb_size, hidden_size, config.layers_num,
                                     config.dropout)
        self.rnn_backward = build_rnn(nn.LSTM, config.emb_size, hidden_size, config.layers_num,
                                      config.dropout)
        self.drop = Dropout(config.dropout)

    def forward(self, emb, seg):
        forward = self.drop(run_rnn(self.rnn_forward, emb))
        backward = self.drop(run_rnn(self.rnn_backward, emb.flip(1)))
        return torch.cat([forward, backward.flip(1)], dim=2)
