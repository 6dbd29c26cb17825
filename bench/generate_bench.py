"""Generation speed (new tokens/s) of scripts/generate.py's key/value-cached loop vs two
uncached loops (the whole sequence through the model for every token): UER-py's as shipped
(output layer at every position) and a leaner one (output layer at the last position only), on a randomly initialised
gpt of models/bert_tiny_config.json's size with a 21128-token vocabulary; both loops must give
the same tokens for the same seed. A second table continues --lines prompts: one after the
other (uncached, UER-py; cached) and together (generate.py --batch_size: the cached steps of
all the lines run as one batch), each line with its own generator.

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
from uer.tools.sampling import (generate_batch, generate_cached, generate_uncached,  # noqa: E402
                                sample_next)
from uer.vocab import Vocab  # noqa: E402


def tiny_gpt(config_path, vocab_size, seed=0, logit_scale=1.0):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"t{i}" for i in range(vocab_size - len(tokens))]
    torch.manual_seed(seed)
    args = model_args(config_path, Vocab(tokens), target="lm", encoder="gpt")
    args.dropout = 0.0
    model = build_model(args)
    init_weights(model)
    with torch.no_grad():
        model.target.output_layer.weight.mul_(logit_scale)
    return model.eval()


def generate_uer_py(model, prompt, max_length, generator, stop_id=None, **sampling):
    """UER-py's loop as shipped: the whole sequence through the model and the output layer at
    every position for every new token, then the last position's logits (without its gelu on
    the logits, so the tokens are ours)."""
    ids = list(prompt)
    with torch.inference_mode():
        while len(ids) < max_length:
            src = torch.tensor([ids])
            seg = torch.ones_like(src)
            logits = model.target.output_layer(model.encoder(model.embedding(src, seg), seg))
            token = sample_next(logits[0, -1], generator, **sampling)
            ids.append(token)
            if token == stop_id:
                break
    return ids


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
    parser.add_argument("--config_path",
                        default=os.path.join(ROOT, "models", "bert_tiny_config.json"))
    parser.add_argument("--vocab_size", type=int, default=21128)
    parser.add_argument("--prompt_length", type=int, default=8, help="[CLS] + prompt tokens.")
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lines", type=int, default=8, help="Prompts of the second table.")
    parser.add_argument("--logit_scale", type=float, default=10.0,
                        help="Output-layer weights x this: a trained LM's next-token distribution "
                             "is peaked, random N(0, 0.02) weights (scale 1) give an almost flat "
                             "one whose p=0.6 nucleus is half the vocabulary (a full sort per "
                             "token, and near-ties that rounding can reorder between the loops).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = tiny_gpt(args.config_path, args.vocab_size, logit_scale=args.logit_scale)
    prompt = [2] + list(range(100, 100 + args.prompt_length - 1))
    max_length = len(prompt) + args.new_tokens
    sampling = {"top_k": 0, "top_p": 0.6, "temperature": 1.0}
    rows = []
    for name, fn in (("uncached, last position's logits", generate_uncached),
                     ("key/value cache", generate_cached),
                     ("UER-py's loop (logits at every position)", generate_uer_py)):
        seconds, ids = timed(fn, model, prompt, max_length, args.seed, args.repeats, sampling)
        rows.append((name, seconds, ids))
    same = rows[0][2] == rows[1][2] == rows[2][2]
    print(f"gpt {os.path.basename(args.config_path)}, vocab {args.vocab_size}, prompt "
          f"{len(prompt)}, {args.new_tokens} new tokens, {args.threads} thread(s), best of "
          f"{args.repeats}, logit scale {args.logit_scale:g}, top_p {sampling['top_p']}")
    print("| loop | seconds | new tokens/s | cache speed-up over it |\n|---|---|---|---|")
    for name, seconds, _ in rows:
        print(f"| {name} | {seconds:.3f} | {args.new_tokens / seconds:.1f} | "
              f"{seconds / rows[1][1]:.1f}x |")
    print(f"same tokens: {'yes' if same else 'NO'}")
    # Several lines: one after the other, or batched with the cache.
    prompts = [[2] + list(range(100 + 7 * i, 100 + 7 * i + args.prompt_length - 1 + i % 3))
               for i in range(args.lines)]
    limit = [len(p) + args.new_tokens for p in prompts]
    length = max(limit)

    def one_by_one(fn):
        return [fn(model, p, len(p) + args.new_tokens, torch.Generator().manual_seed(args.seed + i),
                   stop_id=None, **sampling) for i, p in enumerate(prompts)]

    def batched():
        generators = [torch.Generator().manual_seed(args.seed + i) for i in range(len(prompts))]
        # every prompt gets args.new_tokens: pad the shorter prompts' limit by their difference
        out = generate_batch(model, prompts, length, generators, stop_id=None, **sampling)
        return [ids[:n] for ids, n in zip(out, limit)]

    table = []
    for name, fn in (("uncached, one line at a time", lambda: one_by_one(generate_uncached)),
                     ("cached, one line at a time", lambda: one_by_one(generate_cached)),
                     (f"cached, {args.lines} lines batched", batched)):
        best, ids = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            ids = fn()
            best = min(best, time.perf_counter() - start)
        table.append((name, best, ids))
    total = args.lines * args.new_tokens
    print(f"\n{args.lines} lines, {args.new_tokens} new tokens each ({total} tokens)")
    print("| loop | seconds | new tokens/s | speed-up |\n|---|---|---|---|")
    for name, seconds, _ in table:
        print(f"| {name} | {seconds:.3f} | {total / seconds:.1f} | {table[0][1] / seconds:.1f}x |")
    same_lines = table[0][2] == table[1][2] == table[2][2]
    print(f"same tokens: {'yes' if same_lines else 'NO'}")
    if not (same and same_lines):
        print("(the loops agree up to rounding; a near-tie at the nucleus boundary, common with an "
              "almost flat distribution, can change a token: see --logit_scale)")
    if not (same and same_lines):
        sys.exit(1)


if __name__ == "__main__":
    main()
