"""Is a token-prediction model still at unigram level?

Masked-LM training first learns the unigram distribution: it guesses the most frequent token
everywhere and sits on that plateau for a while before it learns to read the context. A model
stopped there scores about what "always predict the most frequent target token" scores, and it
has nothing to transfer to fine-tuning (bench/RESULTS.md "Why a plateau model fine-tunes to
chance"). ``UnigramBaseline`` counts the gold tokens of a report window so the trainer can
compare the model's accuracy with that guess and say so."""
import torch

# Below this multiple of the most-frequent-token share the accuracy counts as unigram level:
# plateau runs sit at 1.0-1.1x, a model that reads context passes 2x within a few hundred
# more steps.
UNIGRAM_LEVEL_FACTOR = 1.5


def token_label_field(target_class):
    """The batch field holding per-token gold ids (0 = not predicted) and the name of the
    accuracy computed from it, or None for targets without one (cls, bilm's two directions)."""
    fields = getattr(target_class, "batch_fields", ())
    accuracies = getattr(getattr(target_class, "metrics", None), "accuracies", ())
    if not accuracies:
        return None
    for field in ("tgt_mlm", "tgt"):
        if field in fields:
            return field, accuracies[0][0]
    return None


class UnigramBaseline:
    """Gold-token counts of a window of batches; ``share()`` is the accuracy of always guessing
    the window's most frequent token."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.labels = []

    def add(self, labels):
        picked = labels[labels > 0]
        if picked.numel():
            self.labels.append(picked.detach().reshape(-1).cpu())

    def share(self):
        """(share, token id) of the most frequent gold token, or (None, None) when empty."""
        if not self.labels:
            return None, None
        counts = torch.bincount(torch.cat(self.labels))
        top = int(counts.argmax())
        return float(counts[top]) / float(counts.sum()), top


def at_unigram_level(accuracy, share):
    return share is not None and accuracy < UNIGRAM_LEVEL_FACTOR * share


def describe(accuracy_name, accuracy, share, token):
    """The note printed under a report line (and at the end of a run) at unigram level."""
    return (f"  unigram level: {accuracy_name} {accuracy:.3f}, while always predicting the most "
            f"frequent token ({token}) scores {share:.3f}: no context learned yet")
