"""Tokenizer throughput (texts/s) on book_review's training texts: ours vs HuggingFace's Python
BertTokenizer and its Rust BertTokenizerFast (per text and batched), with an output check.

Example:
    python3 bench/tokenizer_bench.py --repeats 3
"""
import argparse
import csv
import os
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")


def load_texts(path):
    with open(path, encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        column = next(rows).index("text_a")
        return [row[column] for row in rows]


def best_rate(fn, texts, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts_path", default=os.path.join(SHARED, "datasets", "book_review", "train.tsv"))
    parser.add_argument("--vocab_path", default=os.path.join(SHARED, "vocab", "google_zh_vocab.txt"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from uer.tokenizers import str2tokenizer
    import transformers
    try:
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as SlowHF
    except ImportError:
        SlowHF = transformers.BertTokenizer

    texts = load_texts(args.texts_path)
    ours = str2tokenizer["bert"](types.SimpleNamespace(vocab_path=args.vocab_path, spm_model_path=None))
    slow = SlowHF(args.vocab_path, do_lower_case=True)
    fast = transformers.BertTokenizerFast(args.vocab_path, do_lower_case=True)

    identical = all(ours.tokenize(t) == slow.tokenize(t) for t in texts)
    rows = [
        # The word cache is emptied before each pass: the rate includes filling it.
        ("uer (ours)", best_rate(lambda ts: ours.wordpiece._cache.clear() or [ours.tokenize(t) for t in ts],
                                 texts, args.repeats)),
        ("uer (ours), encode to ids", best_rate(
            lambda ts: ours._ids_cache.clear() or [ours.encode(t) for t in ts], texts, args.repeats)),
        ("HF BertTokenizer (Python)", best_rate(lambda ts: [slow.tokenize(t) for t in ts], texts, args.repeats)),
        ("HF BertTokenizerFast, per text", best_rate(lambda ts: [fast.tokenize(t) for t in ts], texts, args.repeats)),
        ("HF BertTokenizerFast, batched", best_rate(
            lambda ts: fast(ts, add_special_tokens=False)["input_ids"], texts, args.repeats)),
    ]
    print(f"{len(texts)} texts from {args.texts_path}; output identical to HF Python: {identical}")
    print(f"| tokenizer | texts/s | vs HF Python |")
    print(f"|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / rows[2][1]:.2f}x |")


if __name__ == "__main__":
    main()
