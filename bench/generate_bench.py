"""Generation speed (new tokens/s) of scripts/generate.py's key/value-cached loop vs UER-py's
uncached loop (the whole sequence through the model for every token), on a randomly initialised
gpt of models/bert_tiny_config.json's size with a 21128-token vocabulary; both loops must give
the same tokens for the same seed.

Example:
    python3 bench/generate_bench.py --new_tokens 128 --repeats 3 --threads 1
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from uer.checkpoint import init_weights  # noqa: E402
from uer.model import build_model, model_args  # noqa: E402
from uer.tools.sampling import generate_cached, generate_uncached  # noqa: E402
from uer.vocab import Vocab  # noqa: E402


def tiny_gpt(config_path, vocab_size, seed=0):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"t{i}" for i in range(vocab_size - 5)]
    torch.manual_seed(seed)
    args = model_args(config_path, Vocab(tokens), target="lm", encoder="gpt")
    args.dropout = 0.0
    model = build_model(args)
    init_weights(model)
    return model.eval()


def timed(fn, model, prompt, max_length, seed, repeats, sampling):
    best, ids = float("inf"), None
    for _ in range(repeats):
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        ids = fn(model, prompt, max_length, generator, stop_id=None, **sampling)
        best = min(best, time.perf_counter() - start)
    return best, ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default=os.path.join(ROOT, "models", "bert_tiny_config.json"))
    parser.add_argument("--vocab_size", type=int, default=21128)
    parser.add_argument("--prompt_length", type=int, default=8, help="[CLS] + prompt tokens.")
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = tiny_gpt(args.config_path, args.vocab_size)
    prompt = [2] + list(range(100, 100 + args.prompt_length - 1))
    max_length = len(prompt) + args.new_tokens
    sampling = {"top_k": 0, "top_p": 0.6, "temperature": 1.0}
    rows = []
    for name, fn in (("uncached (UER-py loop)", generate_uncached), ("key/value cache", generate_cached)):
        seconds, ids = timed(fn, model, prompt, max_length, args.seed, args.repeats, sampling)
        rows.append((name, seconds, ids))
    same = rows[0][2] == rows[1][2]
    print(f"gpt {os.path.basename(args.config_path)}, vocab {args.vocab_size}, prompt "
          f"{len(prompt)}, {args.new_tokens} new tokens, {args.threads} thread(s), best of "
          f"{args.repeats}")
    print(f"| loop | seconds | new tokens/s | speed-up |\n|---|---|---|---|")
    for name, seconds, _ in rows:
        print(f"| {name} | {seconds:.3f} | {args.new_tokens / seconds:.1f} | "
              f"{rows[0][1] / seconds:.1f}x |")
    print(f"same tokens: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
