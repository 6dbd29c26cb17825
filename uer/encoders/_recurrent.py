"""Shared body of the lstm and gru encoders (UER-py's rnn_encoder.py): one torch RNN named
``rnn`` so checkpoint keys are ``encoder.rnn.weight_ih_l<k>`` etc. (``_reverse`` when
bidirectional). Not registered itself: the leading underscore keeps the auto-import away."""
import torch
from torch import nn

from uer.errors import UerError
from uer.hparams import DROPOUT, EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, read
from uer.layers.dropout import Dropout


# What every recurrent encoder reads from the config.
RNN_KEYS = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, DROPOUT)


def rnn_hidden_size(hidden_size, directions):
    """Hidden size of each direction: hidden_size split evenly across the directions."""
    if hidden_size % directions != 0:
        raise UerError(f"config: hidden_size {hidden_size} must be even: it is split "
                       f"between the forward and backward directions")
    return hidden_size // directions


def build_rnn(cell, input_size, hidden_size, layers_num, dropout, bidirectional=False):
    # torch warns when inter-layer dropout is set on a single layer; it has no effect there.
    return cell(input_size=input_size, hidden_size=hidden_size, num_layers=layers_num,
                dropout=dropout if layers_num > 1 else 0.0, batch_first=True,
                bidirectional=bidirectional)


def run_rnn(rnn, inputs):
    """Run ``rnn`` from a zero state (UER-py's init_hidden).

    Under CPU autocast torch 2.x hands oneDNN a mixed-precision LSTM call that it refuses ("could
    not create a primitive descriptor"; seen on an AVX2 CPU), so there the recurrence runs in the
    weights' precision with autocast switched off (all-bf16 weights, as with O3, work as is).
    On GPUs autocast is left to cuDNN."""
    if inputs.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            output, _ = rnn(inputs.to(rnn.weight_ih_l0.dtype))
        return output
    output, _ = rnn(inputs)
    return output


class RecurrentEncoder(nn.Module):
    """emb [B, L, E] -> rnn (zero initial state, padding not packed) -> dropout -> [B, L, H].

    With ``--bidirectional`` each direction has hidden_size / 2 units and the output is
    ``concat(forward, backward)`` along the last axis, as torch returns it.
    """

    cell = None  # nn.LSTM or nn.GRU, set by the subclass
    causal = True  # without --bidirectional: position t has read 0..t
    config_keys = RNN_KEYS

    @classmethod
    def is_causal(cls, args):
        return not getattr(args, "bidirectional", False)

    def __init__(self, args):
        super().__init__()
        self.bidirectional = bool(getattr(args, "bidirectional", False))
        # A backward direction reads the trailing padding first: no trimming then.
        self.padding_invariant = not self.bidirectional
        self.causal = not self.bidirectional
        config = read(args, self)
        hidden_size = rnn_hidden_size(config.hidden_size, 2 if self.bidirectional else 1)
        self.rnn = build_rnn(self.cell, config.emb_size, hidden_size, config.layers_num,
                             config.dropout, self.bidirectional)
        self.drop = Dropout(config.dropout)

    def forward(self, emb, seg):
        return self.drop(run_rnn(self.rnn, emb))
