"""Metrics of the classification family. No metric ever divides by zero: an empty ratio is 0."""
import torch


def _ratio(numerator, denominator):
    return float(numerator) / float(denominator) if denominator else 0.0


def confusion_matrix(pred, gold, labels_num):
    """LongTensor [labels_num, labels_num] indexed [pred, gold], as UER-py prints it."""
    pred = torch.as_tensor(pred, dtype=torch.long).flatten()
    gold = torch.as_tensor(gold, dtype=torch.long).flatten()
    flat = torch.bincount(pred * labels_num + gold, minlength=labels_num * labels_num)
    return flat.view(labels_num, labels_num)


def precision_recall_f1(confusion):
    """Per-label (precision, recall, f1): precision = diag / row sum (predicted), recall = diag /
    column sum (gold)."""
    scores = []
    for i in range(confusion.size(0)):
        hit = confusion[i, i].item()
        precision = _ratio(hit, confusion[i, :].sum().item())
        recall = _ratio(hit, confusion[:, i].sum().item())
        f1 = _ratio(2 * precision * recall, precision + recall)
        scores.append((precision, recall, f1))
    return scores


def report_classification(pred, gold, labels_num, detailed=False, prefix=""):
    """Print UER-py's accuracy line (and the confusion matrix and per-label P/R/F1 when
    ``detailed``); return the accuracy."""
    confusion = confusion_matrix(pred, gold, labels_num)
    correct = int(confusion.diag().sum().item())
    total = int(confusion.sum().item())
    accuracy = _ratio(correct, total)
    if detailed:
        print("Confusion matrix:")
        print(confusion)
        print("Report precision, recall, and f1:")
        for i, (p, r, f1) in enumerate(precision_recall_f1(confusion)):
            print(f"Label {i}: {p:.3f}, {r:.3f}, {f1:.3f}")
    print(f"{prefix}Acc. (Correct/Total): {accuracy:.4f} ({correct}/{total}) ")
    return accuracy


def rank_candidates(scores, labels):
    """Relevance flags (label > 0) of the candidates in ranked order: score descending, and among
    equal scores the irrelevant ones first, so ties never flatter a model."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], labels[i] > 0))
    return [labels[i] > 0 for i in order]


def reciprocal_rank(scores, labels):
    """1 / rank of the best-ranked relevant candidate (None if the question has none)."""
    for position, relevant in enumerate(rank_candidates(scores, labels), 1):
        if relevant:
            return 1.0 / position
    return None


def average_precision(scores, labels):
    """Mean of precision@k over the ranks k of the relevant candidates (None if none)."""
    hits, precisions = 0, []
    for position, relevant in enumerate(rank_candidates(scores, labels), 1):
        if relevant:
            hits += 1
            precisions.append(hits / position)
    return sum(precisions) / len(precisions) if precisions else None


def mrr_and_map(groups):
    """``groups``: iterable of (scores, labels) per question. Each question with at least one
    relevant candidate counts once; questions without one are skipped (no rank exists).
    Returns (mrr, map, questions_counted)."""
    rr_sum = ap_sum = 0.0
    counted = 0
    for scores, labels in groups:
        rr = reciprocal_rank(scores, labels)
        if rr is None:
            continue
        rr_sum += rr
        ap_sum += average_precision(scores, labels)
        counted += 1
    return _ratio(rr_sum, counted), _ratio(ap_sum, counted), counted
