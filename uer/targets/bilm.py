"""Bidirectional language model target (ELMo; SPEC §4.4): the forward half of the hidden state
predicts the next token, the backward half the previous one, through one shared output layer."""
from torch import nn

from uer.errors import UerError
from uer.hparams import HIDDEN_SIZE, read
from uer.layers.onednn_linear import Linear
from uer.targets import str2target
from uer.report import TargetMetrics
from uer.targets.common import token_prediction_loss


@str2target.register("bilm")
class BilmTarget(nn.Module):
    """``output_layer`` (H/2) -> V, shared by both directions.

    forward(memory_bank [B, L, H], (tgt_forward, tgt_backward)) with 0 = no label ->
    (loss_forward, loss_backward, correct_forward, correct_backward, denominator); each loss is
    averaged over its own labelled positions, the denominator is the backward one (as UER-py).
    """

    name = "bilm"
    tied_output_name = "output_layer"
    batch_fields = ("src", "tgt_fwd", "tgt_bwd", "seg")
    # UER-py's bilm denominator is the backward one; both accuracies divide by it.
    metrics = TargetMetrics(
        ("loss_forward", "loss_backward", "correct_forward", "correct_backward", "denominator"),
        ("loss_forward", "loss_backward"),
        (("acc_forward", "correct_forward", "denominator"),
         ("acc_backward", "correct_backward", "denominator")),
        "| loss_forward {loss_forward:3.3f}| loss_backward {loss_backward:3.3f}"
        "| acc_forward: {acc_forward:3.3f}| acc_backward: {acc_backward:3.3f}")
    padding_invariant = True
    # The halves must come from directions that never mix (uer.model.check_combination).
    needs_separate_directions = True
    config_keys = (HIDDEN_SIZE,)

    def __init__(self, args, vocab_size):
        super().__init__()
        hidden_size = read(args, self).hidden_size
        if hidden_size % 2 != 0:
            raise UerError(f"config: hidden_size {hidden_size} must be even for --target bilm "
                           "(it is split into forward and backward halves)")
        self.half_size = hidden_size // 2
        self.output_layer = Linear(self.half_size, vocab_size)

    def _direction(self, hidden, tgt):
        labels = tgt.reshape(-1)
        rows = labels > 0
        hidden = hidden.reshape(-1, hidden.size(-1))[rows]
        return token_prediction_loss(self.output_layer(hidden), labels[rows])

    def forward(self, memory_bank, tgt):
        tgt_forward, tgt_backward = tgt
        loss_forward, correct_forward, _ = self._direction(
            memory_bank[..., :self.half_size], tgt_forward)
        loss_backward, correct_backward, denominator = self._direction(
            memory_bank[..., self.half_size:], tgt_backward)
        return loss_forward, loss_backward, correct_forward, correct_backward, denominator
