"""Sentence and sentence-pair classification (run_classifier, inference, distillation)."""
import torch
import torch.nn.functional as F

from uer.errors import UerError
from uer.finetune.batching import Example, pad_src_seg
from uer.finetune.encoding import encode_pairs
from uer.finetune.metrics import report_classification
from uer.finetune.task import Task
from uer.finetune.tsv import parse_label, parse_logits, read_tsv


def read_classification(path, encoder, labels=True, labels_num=None, logits=False,
                        pairs=None, extra_columns=(), label_lines=None):
    """Examples of a classification TSV (SPEC §2.2).

    ``labels``: True = a ``label`` column is required, False = ignored, "optional" = read if
    present. ``labels_num`` bounds the labels. ``logits``: the teacher ``logits`` column is
    required. ``pairs``: True = ``text_b`` required, None = used when present.
    ``extra_columns`` are required too; their raw values go to ``example.extra`` as a tuple.
    ``label_lines``: a dict to fill with label -> first line it is on (for ``count_labels``)."""
    required = ["text_a"] + list(extra_columns)
    if labels is True:
        required.append("label")
    if pairs:
        required.append("text_b")
    if logits:
        required.append("logits")
    table = read_tsv(path, required=required, optional=("text_b", "label"))
    col_a = table.columns["text_a"]
    col_b = table.columns.get("text_b")
    col_label = table.columns.get("label") if labels else None
    col_logits = table.columns.get("logits") if logits else None
    extra_cols = [table.columns[name] for name in extra_columns]
    texts = [(fields[col_a], None if col_b is None else fields[col_b]) for _, fields in table.rows]
    encoded = encode_pairs(encoder, texts)
    examples = []
    for (line_no, fields), (ids, first_len) in zip(table.rows, encoded):
        label = None
        if col_label is not None:
            label = parse_label(fields[col_label], path, line_no, labels_num)
            if label_lines is not None:
                label_lines.setdefault(label, line_no)
        teacher = None
        if col_logits is not None:
            teacher = parse_logits(fields[col_logits], path, line_no, labels_num)
        extra = tuple(fields[c] for c in extra_cols) if extra_cols else None
        examples.append(Example(ids, first_len, label, teacher, extra))
    return examples


def count_labels(examples, path=None, label_lines=None, hint=""):
    """labels_num = largest label + 1 (UER-py counted distinct values); at least 2.

    With ``label_lines`` (from ``read_classification``) the training labels must be 0..n-1 with
    every id present: a stray label 1000 among 0/1 is an error naming its line, not a silent
    1001-class model."""
    if not examples:
        return 2
    labels_num = max(ex.label for ex in examples) + 1
    if label_lines is not None and len(label_lines) != labels_num:
        expected = 0
        for label in sorted(label_lines):
            if label != expected:
                raise UerError(f"{path}:{label_lines[label]}: label {label} leaves label "
                               f"{expected} unused: the training labels must be 0..n-1 with "
                               f"every id present{hint}")
            expected += 1
    return max(2, labels_num)


def check_logits_width(examples, labels_num, path):
    for index, ex in enumerate(examples):
        if ex.logits is not None and len(ex.logits) != labels_num:
            raise UerError(f"{path}: data row {index + 1} has {len(ex.logits)} logits but the task has "
                           f"{labels_num} labels")


def stack(outputs):
    """Per-example logits -> one tensor [N, labels] (an empty list gives [0, 0])."""
    return torch.stack(outputs) if outputs else torch.zeros(0, 0)


class ClassificationTask(Task):
    """Cross-entropy on labels; with soft targets, ``soft_alpha * MSE(logits, teacher) +
    (1 - soft_alpha) * CE``. The metric is accuracy."""

    metric_name = "accuracy"

    def __init__(self, labels_num, soft_targets=False, soft_alpha=0.5):
        self.labels_num = labels_num
        self.soft_targets = soft_targets
        self.soft_alpha = soft_alpha

    def collate(self, examples):
        src, seg = pad_src_seg(examples)
        batch = {"src": src, "seg": seg}
        if all(ex.label is not None for ex in examples):
            batch["label"] = torch.tensor([ex.label for ex in examples], dtype=torch.long)
        if self.soft_targets and all(ex.logits is not None for ex in examples):
            batch["teacher"] = torch.tensor([ex.logits for ex in examples], dtype=torch.float32)
        return batch

    def forward(self, model, batch):
        return model(batch["src"], batch["seg"])

    def loss(self, model, batch):
        logits = self.forward(model, batch).float()
        loss = F.cross_entropy(logits, batch["label"])
        if "teacher" in batch:
            soft = F.mse_loss(logits, batch["teacher"])
            loss = self.soft_alpha * soft + (1.0 - self.soft_alpha) * loss
        return loss

    def score(self, examples, outputs, detailed=False):
        pred = stack(outputs).argmax(dim=-1)
        gold = torch.tensor([ex.label for ex in examples], dtype=torch.long)
        return report_classification(pred, gold, self.labels_num, detailed)
