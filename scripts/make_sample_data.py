"""Regenerate the small sample corpora and datasets shipped in corpora/ and datasets/.

The text comes from a tiny hand-written grammar (no outside data), so the quickstart runs on a
fresh clone with no download. Deterministic for a given --seed.

Example:
    python3 scripts/make_sample_data.py --seed 7
"""
import argparse
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from uer.atomic import write_text  # noqa: E402

TOPICS = {
    "kitchen": (["the baker", "my grandmother", "the young chef", "a neighbour", "the cook"],
                ["kneads", "bakes", "slices", "tastes", "stirs", "seasons", "serves"],
                ["the dough", "fresh bread", "a pot of soup", "ripe tomatoes", "the onions",
                 "warm dumplings", "a lemon cake"],
                ["before dawn", "with great care", "in the small kitchen", "for the whole family",
                 "on a cold morning", "while the radio plays"]),
    "harbour": (["the fisherman", "an old sailor", "the ferry captain", "a tired crew", "the harbour master"],
                ["repairs", "watches", "loads", "paints", "counts", "ties"],
                ["the nets", "the wooden boat", "crates of fish", "the lighthouse", "heavy ropes",
                 "the evening tide"],
                ["near the pier", "as the fog lifts", "under grey clouds", "before the storm",
                 "at sunset", "along the quiet shore"]),
    "school": (["the teacher", "a curious student", "the librarian", "our class", "the headmaster"],
               ["reads", "explains", "writes", "draws", "studies", "borrows"],
               ["a long poem", "the map of the river", "a history book", "simple equations",
                "the story of the moon", "old letters"],
               ["after lunch", "in the library", "with a smile", "for the exam", "every monday",
                "by the window"]),
    "garden": (["the gardener", "my brother", "two children", "the farmer", "an old woman"],
               ["plants", "waters", "picks", "prunes", "gathers", "protects"],
               ["the roses", "green beans", "young apple trees", "the herbs", "sunflowers",
                "the pumpkins"],
               ["in early spring", "after the rain", "behind the house", "before the frost",
                "in the warm afternoon", "with muddy boots"]),
}

CONNECTIVES = ["then", "later", "meanwhile", "afterwards", "soon", "finally"]
PRAISE = ["wonderful", "delightful", "moving", "clever", "beautiful", "gripping", "charming", "honest"]
BLAME = ["boring", "dull", "clumsy", "tedious", "shallow", "confusing", "predictable", "lifeless"]
THINGS = ["story", "book", "film", "novel", "play", "album", "meal", "trip"]


def sentence(rng, topic):
    subjects, verbs, objects, extras = TOPICS[topic]
    words = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(extras)]
    if rng.random() < 0.3:
        words.insert(0, rng.choice(CONNECTIVES) + ",")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!"])


def documents(rng, count):
    docs = []
    for _ in range(count):
        topic = rng.choice(sorted(TOPICS))
        docs.append([sentence(rng, topic) for _ in range(rng.randint(3, 8))])
    return docs


def review(rng, label):
    good, bad = (PRAISE, BLAME) if label == 1 else (BLAME, PRAISE)
    thing = rng.choice(THINGS)
    parts = [f"This {thing} is {rng.choice(good)}.",
             f"I found it {rng.choice(good)} and {rng.choice(good)}.",
             f"Some say it is {rng.choice(bad)}, but not me." if rng.random() < 0.3 else "",
             rng.choice(["I would recommend it.", "I will not forget it.", "Never again.",
                         "What a day."]) if rng.random() < 0.5 else ""]
    return " ".join(p for p in parts if p)


def write(path, text):
    write_text(path, text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    docs = documents(rng, 120)
    write(os.path.join(ROOT, "corpora", "sample_bert.txt"),
          "\n\n".join("\n".join(doc) for doc in docs) + "\n")
    write(os.path.join(ROOT, "corpora", "sample_docs.txt"), "".join(" ".join(d) + "\n" for d in docs))
    labelled = [(label, review(rng, label)) for label in [rng.randint(0, 1) for _ in range(600)]]
    write(os.path.join(ROOT, "corpora", "sample_cls.txt"), "".join(f"{l}\t{t}\n" for l, t in labelled[:200]))
    for name, rows in (("train", labelled[:400]), ("dev", labelled[400:500]), ("test", labelled[500:])):
        write(os.path.join(ROOT, "datasets", "sample_sentiment", f"{name}.tsv"),
              "label\ttext_a\n" + "".join(f"{l}\t{t}\n" for l, t in rows))
    write(os.path.join(ROOT, "datasets", "sample_sentiment", "test_nolabel.tsv"),
          "text_a\n" + "".join(f"{t}\n" for _, t in labelled[500:]))


if __name__ == "__main__":
    main()
