"""Entity-level NER scores equal seqeval's default (conlleval) mode, for BIO and BIOES tags."""
import random

import pytest

from uer.finetune.tasks.ner_metrics import EntityScores, entities

seqeval_metrics = pytest.importorskip("seqeval.metrics")
from seqeval.metrics.sequence_labeling import get_entities  # noqa: E402

# seqeval warns about empty ratios (which it sets to 0, as we do).
pytestmark = pytest.mark.filterwarnings("ignore")
TYPES = ("PER", "LOC", "ORG")


def random_tags(rng, length, prefixes):
    return [rng.choice(["O"] * 3 + [f"{p}-{t}" for p in prefixes for t in TYPES])
            for _ in range(length)]


def seqeval_scores(gold, pred):
    return (seqeval_metrics.precision_score(gold, pred), seqeval_metrics.recall_score(gold, pred),
            seqeval_metrics.f1_score(gold, pred))


@pytest.mark.parametrize("prefixes", ["BI", "BIES"])
def test_random_sequences_match_seqeval(prefixes):
    rng = random.Random(len(prefixes))
    for trial in range(300):
        count = rng.randrange(1, 6)
        gold = [random_tags(rng, rng.randrange(0, 12), prefixes) for _ in range(count)]
        # Predictions: the gold with some tags changed, so a good share of entities match.
        pred = [[tag if rng.random() < 0.7 else random_tags(rng, 1, prefixes)[0] for tag in row]
                for row in gold]
        for row in gold + pred:
            assert entities(row) == [(t, s, e) for t, s, e in get_entities(row)], row
        ours = EntityScores(gold, pred)
        assert ours.scores()[:3] == pytest.approx(seqeval_scores(gold, pred)), (gold, pred)
        report = seqeval_metrics.classification_report(gold, pred, output_dict=True,
                                                       zero_division=0)
        for kind in ours.types():
            p, r, f1, support = ours.scores(kind)
            expected = report[kind]
            assert (p, r, f1) == pytest.approx(
                (expected["precision"], expected["recall"], expected["f1-score"])), kind
            assert support == expected["support"]


@pytest.mark.parametrize("tags, expected", [
    ("O I-PER I-PER O", [("PER", 1, 2)]),                          # I- after O opens an entity
    ("B-PER I-LOC I-LOC", [("PER", 0, 0), ("LOC", 1, 2)]),         # a type change splits
    ("O O B-ORG I-ORG", [("ORG", 2, 3)]),                          # entity at the end
    ("S-LOC B-PER E-PER S-ORG", [("LOC", 0, 0), ("PER", 1, 2), ("ORG", 3, 3)]),  # BIOES
    ("B-LOC B-LOC", [("LOC", 0, 0), ("LOC", 1, 1)]),
    ("E-PER I-PER", [("PER", 0, 0), ("PER", 1, 1)]),
    ("", []),
])
def test_edge_cases(tags, expected):
    row = tags.split()
    assert entities(row) == expected
    assert [(t, s, e) for t, s, e in get_entities(row)] == expected


def test_sequences_are_independent_and_zero_counts_give_zero():
    # An entity at the end of one row does not continue into the next row.
    scores = EntityScores([["B-PER"], ["I-PER", "O"]], [["B-PER"], ["O", "O"]])
    assert scores.scores() == pytest.approx((1.0, 0.5, 2 / 3, 2))
    nothing = EntityScores([["O", "O"]], [["O", "O"]])
    assert nothing.scores() == (0.0, 0.0, 0.0, 0)
    assert "micro avg" in nothing.table()
