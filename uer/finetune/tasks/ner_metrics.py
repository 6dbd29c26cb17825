"""Entity-level precision, recall and F1 of tag sequences, by the conlleval chunk rules.

These are the rules of the CoNLL evaluation script, which ``seqeval``'s default mode follows:
a tag is ``<prefix>-<type>`` (prefix B, I, E, S) or ``O``; a chunk ends where the previous tag
closes it (E or S, or B/I followed by B, S or O) or where the type changes, and a chunk starts
at B or S, at an I or E that follows O, E or S (a "dangling" I opens a chunk, as in conlleval),
or where the type changes. So BIO and BIOES tags are both read correctly (UER-py ignored S-
singletons and glued B-PER I-LOC into one span). Sequences are independent: no chunk spans two.

Micro scores count an entity as correct when its type, start and end all match a gold entity.
No ratio ever divides by zero: an empty ratio is 0, as seqeval reports it.
"""
from collections import Counter


def split_tag(tag):
    """(prefix, type): ("B", "PER") for "B-PER"; a tag without a type ("O", a bare "B") has
    the type "_"."""
    if not tag:
        return "O", "_"
    return tag[0], tag[1:].split("-", 1)[-1] or "_"


def _closes(prev_prefix, prefix, prev_kind, kind):
    """Does the chunk running at the previous tag end before this tag?"""
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return prev_prefix not in ("O", ".") and prev_kind != kind


def _opens(prev_prefix, prefix, prev_kind, kind):
    """Does a chunk start at this tag?"""
    if prefix in ("B", "S"):
        return True
    if prefix in ("I", "E") and prev_prefix in ("O", "E", "S"):
        return True
    return prefix not in ("O", ".") and prev_kind != kind


def entities(tags):
    """The chunks of one tag sequence as (type, start, end) with inclusive ``end``."""
    found = []
    prev_prefix, prev_kind, start = "O", "_", None
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = split_tag(tag)
        if start is not None and _closes(prev_prefix, prefix, prev_kind, kind):
            found.append((prev_kind, start, position - 1))
            start = None
        if _opens(prev_prefix, prefix, prev_kind, kind):
            start = position
        prev_prefix, prev_kind = prefix, kind
    return found


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _f1(precision, recall):
    return _ratio(2 * precision * recall, precision + recall)


class EntityScores:
    """Counts of gold, predicted and correct entities, overall and per type."""

    def __init__(self, gold_sequences, pred_sequences):
        self.gold, self.pred, self.correct = Counter(), Counter(), Counter()
        for gold_tags, pred_tags in zip(gold_sequences, pred_sequences):
            gold = set(entities(gold_tags))
            pred = set(entities(pred_tags))
            self.gold.update(kind for kind, _, _ in gold)
            self.pred.update(kind for kind, _, _ in pred)
            self.correct.update(kind for kind, _, _ in gold & pred)

    def scores(self, kind=None):
        """(precision, recall, f1, gold count) for one type, or micro-averaged over all."""
        if kind is None:
            correct, pred, gold = (sum(c.values()) for c in (self.correct, self.pred, self.gold))
        else:
            correct, pred, gold = self.correct[kind], self.pred[kind], self.gold[kind]
        precision, recall = _ratio(correct, pred), _ratio(correct, gold)
        return precision, recall, _f1(precision, recall), gold

    def types(self):
        return sorted(set(self.gold) | set(self.pred))

    def table(self):
        """Per-type lines (precision, recall, f1, support) and the micro average, as text."""
        width = max([len(kind) for kind in self.types()] + [len("micro avg")])
        lines = [f"{'':{width}s} precision    recall  f1-score   support"]
        for kind in self.types() + [None]:
            p, r, f1, support = self.scores(kind)
            name = "micro avg" if kind is None else kind
            lines.append(f"{name:{width}s} {p:9.4f} {r:9.4f} {f1:9.4f} {support:9d}")
        return "\n".join(lines)
