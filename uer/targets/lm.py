"""Left-to-right language model target (SPEC §4.4): next-token loss at every labelled position."""
import torch.nn.functional as F
from torch import nn

from uer.hparams import require
from uer.targets import str2target
from uer.targets.common import DENOMINATOR_EPS


@str2target.register("lm")
class LmTarget(nn.Module):
    """``output_layer`` H -> V. forward(memory_bank, tgt [B, L], 0 = no label) ->
    (loss, correct, denominator); the loss is averaged over the labelled positions."""

    name = "lm"
    tied_output_name = "output_layer"

    def __init__(self, args, vocab_size):
        super().__init__()
        self.output_layer = nn.Linear(require(args, "hidden_size", "target lm"), vocab_size)

    def forward(self, memory_bank, tgt):
        logits = self.output_layer(memory_bank)
        logits = logits.reshape(-1, logits.size(-1))
        labels = tgt.reshape(-1)
        labelled = labels > 0
        denominator = labelled.sum().float() + DENOMINATOR_EPS
        loss = F.cross_entropy(logits.float(), labels, ignore_index=0,
                               reduction="sum") / denominator
        correct = ((logits.argmax(dim=-1) == labels) & labelled).sum().float()
        return loss, correct, denominator
