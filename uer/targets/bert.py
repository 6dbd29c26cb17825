"""BERT target: MLM plus next-sentence prediction from the first position (SPEC §4.4)."""
import torch

from uer.layers.onednn_linear import Linear
from uer.targets import str2target
from uer.report import TargetMetrics
from uer.targets.common import sentence_loss
from uer.targets.mlm import MlmTarget


def mlm_and_sentence_metrics(head):
    """Report of an MLM loss plus a sentence head named ``head`` (nsp, sop)."""
    return TargetMetrics(
        ("loss_mlm", f"loss_{head}", "correct_mlm", f"correct_{head}", "denominator"),
        ("loss_mlm", f"loss_{head}"),
        (("acc_mlm", "correct_mlm", "denominator"), (f"acc_{head}", f"correct_{head}", "instances")),
        f"| loss_mlm: {{loss_mlm:3.3f}}| loss_{head}: {{loss_{head}:3.3f}}"
        f"| acc_mlm: {{acc_mlm:3.3f}}| acc_{head}: {{acc_{head}:3.3f}}")


@str2target.register("bert")
class BertTarget(MlmTarget):
    """MLM head plus ``nsp_linear_1`` H -> H and ``nsp_linear_2`` H -> 2 (label 1 = random next).

    forward(memory_bank, (tgt_mlm, is_next)) ->
    (loss_mlm, loss_nsp, correct_mlm, correct_nsp, denominator)."""

    name = "bert"
    sentence_head = "nsp"
    batch_fields = ("src", "tgt_mlm", "label", "seg")  # label: 1 = random next
    metrics = mlm_and_sentence_metrics("nsp")

    def __init__(self, args, vocab_size):
        super().__init__(args, vocab_size)
        hidden_size = self.mlm_linear_1.in_features
        # Registered as nsp_linear_* (bert) or sop_linear_* (albert): the checkpoint names.
        setattr(self, f"{self.sentence_head}_linear_1", Linear(hidden_size, hidden_size))
        setattr(self, f"{self.sentence_head}_linear_2", Linear(hidden_size, 2))

    def sentence_logits(self, memory_bank):
        linear_1 = getattr(self, f"{self.sentence_head}_linear_1")
        linear_2 = getattr(self, f"{self.sentence_head}_linear_2")
        return linear_2(torch.tanh(linear_1(memory_bank[:, 0, :])))

    def rows_read(self, tgt):
        rows = tgt[0] > 0
        rows[:, 0] = True  # the sentence head reads the first position
        return rows

    def forward(self, memory_bank, tgt):
        tgt_mlm, tgt_sentence = tgt
        loss_mlm, correct_mlm, denominator = self.mlm(memory_bank, tgt_mlm)
        loss_sentence, correct_sentence = sentence_loss(self.sentence_logits(memory_bank),
                                                        tgt_sentence)
        return loss_mlm, loss_sentence, correct_mlm, correct_sentence, denominator
