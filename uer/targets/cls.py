"""Sentence classification target (SPEC §4.4): tanh(linear_1(h[:, 0])) -> linear_2 -> NLL."""
import torch
from torch import nn

from uer.errors import UerError
from uer.hparams import HIDDEN_SIZE, read
from uer.layers.onednn_linear import Linear
from uer.targets import str2target
from uer.report import TargetMetrics
from uer.targets.common import sentence_loss


@str2target.register("cls")
class ClsTarget(nn.Module):
    """``linear_1`` H -> H, ``linear_2`` H -> labels_num. forward(memory_bank, labels [B]) ->
    (loss, correct). ``args.labels_num`` comes from the dataset (its label count)."""

    name = "cls"
    tied_output_name = None
    batch_fields = ("src", "label", "seg")
    # UER-py's cls pre-training was commented out; its line follows the mlm/lm shape.
    metrics = TargetMetrics(("loss", "correct"), ("loss",), (("acc", "correct", "instances"),),
                            "| acc: {acc:3.3f}")
    padding_invariant = True
    labels_from_dataset = True  # the trainer sets args.labels_num from the dataset header
    config_keys = (HIDDEN_SIZE,)

    def __init__(self, args, vocab_size):
        super().__init__()
        hidden_size = read(args, self).hidden_size
        labels_num = getattr(args, "labels_num", None)
        if not labels_num or labels_num < 2:
            raise UerError("target cls needs args.labels_num >= 2 (the number of labels in the "
                           f"dataset), got {labels_num!r}")
        self.linear_1 = Linear(hidden_size, hidden_size)
        self.linear_2 = Linear(hidden_size, labels_num)

    def forward(self, memory_bank, tgt):
        logits = self.linear_2(torch.tanh(self.linear_1(memory_bank[:, 0, :])))
        return sentence_loss(logits, tgt)
