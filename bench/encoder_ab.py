"""Interleaved A/B timing of encoder-path variants on the NER, CMRC and C3 cases of
bench/finetune_tasks.py: each batch is run by every contender in turn (the order rotating per
batch), so machine load hits all alike; prints per-contender medians and the median of the
per-batch ratios against the first contender. Meant for a shared machine: ratios, not rates.

Contenders: ``ours`` (the code as it is), ``ours-composed-ln`` (UER's LayerNorm as the composed
torch ops it was before uer/layers/uer_layer_norm_kernel.py), ``ours-cat-qkv`` (Q/K/V weights
concatenated on every call, as before uer/layers/qkv_weights.py), ``ours-separate-qkv``
(three matmuls on the shared input instead of one on concatenated weights),
``ours-unfused-scores`` (training attention scores as matmul, scale and mask add instead of one
baddbmm) and ``hf`` (the HuggingFace
model of the case).

    python3 bench/encoder_ab.py --tasks ner cmrc --rounds 3 --threads 1
"""
import argparse
import math
import os
import statistics
import sys
import time
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import torch  # noqa: E402

from finetune_tasks import CASES, run_contender  # noqa: E402
from uer.checkpoint import init_weights  # noqa: E402
from uer.config import load_config  # noqa: E402
from uer.layers import layer_norm, multi_headed_attn  # noqa: E402
from uer.model import model_args  # noqa: E402
from uer.optim import build_optimizer  # noqa: E402
from uer.vocab import Vocab  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")


def composed_layer_norm(self, x):
    """UER's formula as five torch ops, differentiated by autograd (the former forward)."""
    dtype = x.dtype
    x = x.float()
    centered = x - x.mean(-1, keepdim=True)
    unbias = max(x.size(-1) - 1, 1) ** -0.5
    std = torch.linalg.vector_norm(centered, dim=-1, keepdim=True) * unbias
    return torch.addcmul(self.beta, centered / (std + self.eps), self.gamma).to(dtype)


def concatenated_weights(self, linears):
    return (torch.cat([linear.weight for linear in linears]),
            torch.cat([linear.bias for linear in linears]))


def separate_projections(self, x, linears):
    """Q/K/V (or K/V) through their own linears, as HuggingFace does: no cat, no stack."""
    return tuple(self._split_heads(linear(x)) for linear in linears)


def unfused_scores(self, q, k, mask):
    """The scores as matmul, scale and mask add: three passes (the former code)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.per_head_size))
    return scores if mask is None else scores + mask


@contextmanager
def patched(owner, name, replacement):
    if replacement is None:
        yield
        return
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


VARIANTS = {
    "ours": (None, None, None),
    "ours-composed-ln": (layer_norm.LayerNorm, "forward", composed_layer_norm),
    "ours-cat-qkv": (multi_headed_attn.MultiHeadedAttention, "_projection_weights",
                     concatenated_weights),
    "ours-separate-qkv": (multi_headed_attn.MultiHeadedAttention, "_fused_projection",
                          separate_projections),
    "ours-unfused-scores": (multi_headed_attn.MultiHeadedAttention, "_scores", unfused_scores),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=["ner", "cmrc", "c3"], choices=sorted(CASES))
    parser.add_argument("--variants", nargs="+", default=["ours", "ours-composed-ln", "hf"],
                        choices=sorted(VARIANTS) + ["hf"])
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the batches.")
    parser.add_argument("--train_batches", type=int, default=6)
    parser.add_argument("--infer_examples", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: this thread's CPU time (with --threads 1 every op and the "
                             "backward run on it), which waiting for a busy core does not "
                             "inflate; wall: elapsed time.")
    args = parser.parse_args()
    # The sizes of bench/finetune_bench.py's task rows (its defaults).
    for key, value in dict(ner_seq_length=128, ner_batch_size=32, cmrc_seq_length=512,
                           cmrc_batch_size=8, c3_seq_length=512, c3_batch_size=8).items():
        setattr(args, key, value)
    return args


def timed(variant, contender, optimizer, batch, train, clock):
    owner, name, replacement = VARIANTS.get(variant, (None, None, None))
    with patched(owner, name, replacement):
        with torch.inference_mode(not train):
            start = clock()
            run_contender(contender, optimizer, batch, train)
            return clock() - start


def compare(case, variants, rounds, train, clock):
    contenders = {v: case.hf if v == "hf" else case.ours for v in variants}
    optimizers = {v: build_optimizer(c.model, 2e-5) if train else None
                  for v, c in contenders.items()}
    for contender in contenders.values():
        contender.model.train(train)
    batches = case.train_batches if train else case.infer_batches
    seconds = {v: [] for v in variants}
    for round_index in range(rounds + 1):
        for index, batch in enumerate(batches):
            shift = (round_index * len(batches) + index) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                elapsed = timed(variant, contenders[variant], optimizers[variant], batch, train,
                                clock)
                if round_index > 0:  # the first pass warms up allocator and caches
                    seconds[variant].append(elapsed)
    base = seconds[variants[0]]
    for variant in variants:
        ratios = [other / first for other, first in zip(seconds[variant], base)]
        print(f"  {'train' if train else 'infer'} {variant:18s} median "
              f"{statistics.median(seconds[variant]) * 1e3:8.1f} ms/batch   time / "
              f"{variants[0]}: {statistics.median(ratios):.3f}", flush=True)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(os.path.join(REPO, "models", "bert_tiny_config.json"))
    vocab_path = os.path.join(SHARED, "vocab", "google_zh_vocab.txt")
    vocab = Vocab.from_file(vocab_path)
    margs = model_args(config, vocab, vocab_path=vocab_path, spm_model_path=None)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    for key in args.tasks:
        torch.manual_seed(7)
        case = CASES[key](args, margs, config, vocab, SHARED)
        init_weights(case.ours.model)
        print(f"{key}: {case.note}; {args.threads} threads, {args.clock} clock, load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        compare(case, args.variants, args.rounds, True, clock)
        compare(case, args.variants, args.rounds, False, clock)


if __name__ == "__main__":
    main()
