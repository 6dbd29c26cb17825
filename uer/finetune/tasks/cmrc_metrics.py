"""CMRC2018 exact match and F1, by the rules of the official evaluation script.

- Normalisation: lower-case, then strip edge whitespace.
- Punctuation: ``PUNCTUATION`` below, the official list. It holds the two-character string
  "……", which never equals a single character, so "…" is kept (as the official script does;
  the numbers stay equal to it).
- EM: 1 when some gold answer equals the prediction once both are normalised and their
  punctuation characters are removed.
- F1 over the "mixed segmentation": after normalisation punctuation characters are dropped;
  each CJK character (U+4E00-U+9FA5) is one token; every run of other characters (Latin words,
  digits, spaces...) is split by NLTK's Treebank word tokenizer. Precision and recall use the
  longest common *substring* of the two token lists; the F1 of a question is its best over the
  gold answers.
- A question without a prediction (None) scores 0 and counts in Total and in Skip.
- F1 = 100 * mean, EM = 100 * mean, Avg = (F1 + EM) / 2.

UER-py differs: its F1 forgot the lower-casing (F1 was case-sensitive) and split the
prediction into single characters. No model is needed here: tests use hand-made predictions.
"""
import re
from collections import namedtuple

PUNCTUATION = frozenset([
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
])
CJK = re.compile("[\u4e00-\u9fa5]")

Scores = namedtuple("Scores", "avg f1 em total skip")

_word_tokenizer = None


def _words(text):
    """NLTK's Treebank tokenization of a non-CJK run (it needs no downloaded data)."""
    global _word_tokenizer
    if _word_tokenizer is None:
        from nltk.tokenize import TreebankWordTokenizer

        _word_tokenizer = TreebankWordTokenizer()
    return _word_tokenizer.tokenize(text)


def normalize(text):
    return str(text).lower().strip()


def remove_punctuation(text):
    """Normalised text without its punctuation characters (the EM comparison form)."""
    return "".join(char for char in normalize(text) if char not in PUNCTUATION)


def mixed_segmentation(text):
    """Tokens for F1: CJK characters one by one, other runs through the word tokenizer.

    Punctuation characters are dropped before segmenting, so they do not split a run: "a-b"
    is the single token "ab", as in the official script."""
    tokens, run = [], []
    for char in normalize(text):
        if char in PUNCTUATION:
            continue
        if CJK.match(char):
            if run:
                tokens.extend(_words("".join(run)))
                run = []
            tokens.append(char)
        else:
            run.append(char)
    if run:
        tokens.extend(_words("".join(run)))
    return tokens


def longest_common_substring(first, second):
    """Length of the longest run of equal consecutive items shared by two sequences."""
    best = 0
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0] * (len(second) + 1)
        for j, other in enumerate(second, 1):
            if item == other:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best = current[j]
        previous = current
    return best


def f1_score(answers, prediction):
    """Best F1 (0..1) of ``prediction`` against any of the gold ``answers``."""
    predicted = mixed_segmentation(prediction)
    best = 0.0
    for answer in answers:
        gold = mixed_segmentation(answer)
        common = longest_common_substring(gold, predicted)
        if common == 0:
            continue
        precision = common / len(predicted)
        recall = common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(answers, prediction):
    """1 when the prediction equals some gold answer (normalised, punctuation removed)."""
    predicted = remove_punctuation(prediction)
    return int(any(remove_punctuation(answer) == predicted for answer in answers))


def evaluate(golds, predictions):
    """``golds``: a list of gold-answer lists; ``predictions``: one string (or None) each."""
    f1_sum = em_sum = 0.0
    skip = 0
    for answers, prediction in zip(golds, predictions, strict=True):
        if prediction is None:
            skip += 1
            continue
        f1_sum += f1_score(answers, prediction)
        em_sum += exact_match(answers, prediction)
    total = len(golds)
    f1 = 100.0 * f1_sum / total if total else 0.0
    em = 100.0 * em_sum / total if total else 0.0
    return Scores((f1 + em) / 2, f1, em, total, skip)


def format_scores(scores):
    """UER-py's report line."""
    return (f"Avg: {scores.avg:.4f},F1:{scores.f1:.4f},EM:{scores.em:.4f},"
            f"Total:{scores.total},Skip:{scores.skip}")
