"""MLM head cost: UER-py's way (head on every position + one-hot NLL) vs ours (masked rows only,
F.cross_entropy). Forward + backward, CPU, fp32.

    python3 bench/bench_mlm_head.py --batch_size 8 --seq_length 128 --hidden_size 768
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from uer.model import model_args  # noqa: E402
from uer.targets.mlm import MlmTarget  # noqa: E402


def uer_py_style(head, memory_bank, tgt):
    """Transform at every position, then select rows, log-softmax and an explicit one-hot [rows, V]."""
    hidden = head.layer_norm(F.gelu(head.mlm_linear_1(memory_bank)))
    hidden = hidden.reshape(-1, hidden.size(-1))
    labels = tgt.reshape(-1)
    hidden, labels = hidden[labels > 0], labels[labels > 0]
    log_probs = torch.log_softmax(head.mlm_linear_2(hidden), dim=-1)
    one_hot = torch.zeros_like(log_probs).scatter_(1, labels[:, None], 1.0)
    return -(log_probs * one_hot).sum() / (labels.numel() + 1e-6)


def timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--hidden_size", type=int, default=768)
    parser.add_argument("--vocab_size", type=int, default=21128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    head = MlmTarget(model_args(hidden_size=args.hidden_size), args.vocab_size)
    memory = torch.randn(args.batch_size, args.seq_length, args.hidden_size, requires_grad=True)
    tgt = torch.randint(1, args.vocab_size, (args.batch_size, args.seq_length))
    tgt[torch.rand(tgt.shape) > 0.15] = 0  # about 15% of the positions are predicted

    def ours():
        head.zero_grad()
        head(memory, tgt)[0].backward()

    def theirs():
        head.zero_grad()
        uer_py_style(head, memory, tgt).backward()

    ref, new = uer_py_style(head, memory, tgt).item(), head(memory, tgt)[0].item()
    assert abs(ref - new) < 1e-3 * abs(ref), (ref, new)
    t_theirs, t_ours = timed(theirs, args.repeats), timed(ours, args.repeats)
    print(f"threads={torch.get_num_threads()} B={args.batch_size} L={args.seq_length} "
          f"H={args.hidden_size} V={args.vocab_size} masked={int((tgt > 0).sum())}")
    print(f"full-sequence transform + one-hot (UER-py-like): {t_theirs * 1000:.1f} ms/step")
    print(f"ours (masked rows + cross_entropy): {t_ours * 1000:.1f} ms/step "
          f"({t_theirs / t_ours:.2f}x)")


if __name__ == "__main__":
    main()
