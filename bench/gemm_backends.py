"""fp32 gemm rates of the two roads our linears can take (uer/layers/onednn_linear.py): MKL
(torch's F.linear / torch.mm) and oneDNN (torch.ops.mkldnn._linear_pointwise), on the shapes of
a bert_tiny layer (rows = tokens of a batch), forward and the two backward products. The
machine's choice (UER_LINEAR_BACKEND=auto) is printed with the CPU vendor.

    python3 bench/gemm_backends.py [--rows 1600 4096] [--repeats 20]
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from uer.layers import onednn_linear  # noqa: E402


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1600, 4096])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--feedforward", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    gemm = onednn_linear._gemm
    h, f = args.hidden, args.feedforward
    print(f"CPU vendor {onednn_linear._cpu_vendor() or '?'}, torch capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads; "
          f"auto chooses {onednn_linear.backend()}")
    print(f"{'product (rows x in -> out)':48s} {'MKL ms':>8s} {'oneDNN ms':>10s} "
          f"{'MKL GF/s':>9s} {'oneDNN GF/s':>12s} {'speed-up':>9s}")
    torch.manual_seed(0)
    with torch.no_grad():
        for rows in args.rows:
            for name, (n_in, n_out) in (("QKV", (h, 3 * h)), ("attention out", (h, h)),
                                        ("FFN 1", (h, f)), ("FFN 2", (f, h))):
                x, w = torch.randn(rows, n_in), torch.randn(n_out, n_in)
                b, g = torch.randn(n_out), torch.randn(rows, n_out)
                flops = 2 * rows * n_in * n_out
                cases = (
                    ("forward", lambda: F.linear(x, w, b), lambda: gemm(x, w, b)),
                    ("grad input", lambda: torch.mm(g, w), lambda: gemm(g, w.t())),
                    ("grad weight", lambda: torch.mm(g.t(), x), lambda: gemm(g.t(), x.t())))
                for kind, mkl, dnn in cases:
                    mkl_ms, dnn_ms = best_ms(mkl, args.repeats), best_ms(dnn, args.repeats)
                    label = f"{name} {kind} ({rows} x {n_in} -> {n_out})"
                    print(f"{label:48s} {mkl_ms:8.2f} {dnn_ms:10.2f} {flops / mkl_ms / 1e6:9.0f} "
                          f"{flops / dnn_ms / 1e6:12.0f} {mkl_ms / dnn_ms:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
