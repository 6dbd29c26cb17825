"""Left-to-right language model target (SPEC §4.4): next-token loss at every labelled position."""
from torch import nn

from uer.hparams import HIDDEN_SIZE, read
from uer.layers.onednn_linear import Linear
from uer.targets import str2target
from uer.targets.common import TOKEN_METRICS, token_prediction_loss


@str2target.register("lm")
class LmTarget(nn.Module):
    """``output_layer`` H -> V. forward(memory_bank, tgt [B, L], 0 = no label) ->
    (loss, correct, denominator); the loss is averaged over the labelled positions."""

    name = "lm"
    tied_output_name = "output_layer"
    batch_fields = ("src", "tgt", "seg")
    metrics = TOKEN_METRICS
    padding_invariant = True
    # A left-to-right LM on an encoder that looks ahead would see the token it must predict.
    needs_causal_encoder = True
    config_keys = (HIDDEN_SIZE,)

    def __init__(self, args, vocab_size):
        super().__init__()
        self.output_layer = Linear(read(args, self).hidden_size, vocab_size)

    def forward(self, memory_bank, tgt):
        # Logits only for the labelled rows: padding never reaches the H x V projection, which
        # dominates the cost of an LM step (most LM instances are mostly padding).
        labels = tgt.reshape(-1)
        rows = labels > 0
        hidden = memory_bank.reshape(-1, memory_bank.size(-1))[rows]
        return token_prediction_loss(self.output_layer(hidden), labels[rows])
