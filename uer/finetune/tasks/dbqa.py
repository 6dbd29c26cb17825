"""Answer-sentence selection (run_dbqa): question/candidate pairs grouped by ``qid``.

The score of a candidate is the logit of class 1. Rows of one question need not be adjacent:
they are grouped by the qid value. Model selection uses MRR."""
import torch

from uer.finetune.metrics import mrr_and_map, report_classification
from uer.finetune.tasks.classifier import ClassificationTask, read_classification, stack


def read_dbqa(path, encoder, labels=True):
    """Examples with ``extra = (qid,)``; text_a = question, text_b = candidate sentence."""
    return read_classification(path, encoder, labels=labels, labels_num=2 if labels else None,
                               pairs=True, extra_columns=("qid",))


def group_by_question(examples, scores):
    """[(scores, labels)] per qid, in order of first appearance."""
    groups = {}
    for ex, score in zip(examples, scores):
        scores_, labels_ = groups.setdefault(ex.extra[0], ([], []))
        scores_.append(score)
        labels_.append(ex.label)
    return list(groups.values())


class DbqaTask(ClassificationTask):
    metric_name = "MRR"

    def __init__(self):
        super().__init__(labels_num=2)

    def score(self, examples, outputs, detailed=False):
        logits = stack(outputs)
        gold = torch.tensor([ex.label for ex in examples], dtype=torch.long)
        report_classification(logits.argmax(dim=-1), gold, 2, detailed)
        groups = group_by_question(examples, logits[:, 1].tolist())
        mrr, map_, counted = mrr_and_map(groups)
        skipped = len(groups) - counted
        note = f" ({skipped} questions without a correct answer skipped)" if skipped else ""
        print(f"Mean Reciprocal Rank: {mrr:.4f}")
        print(f"Mean Average Precision: {map_:.4f}{note}")
        return mrr
