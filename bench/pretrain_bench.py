"""Pre-training throughput: tokens/s, peak RSS and model FLOPs utilisation of pretrain.py.

Each configuration runs in its own process (so peak RSS is its own): a dataset is built once per
(target, preprocess options) with preprocess.py from a slice of the corpus, then pretrain.py
trains for --warmup_steps + --measure_steps steps; tokens/s is the mean over the report windows
after the warm-up ones (the report line counts every token of every batch, padding included, as
UER-py did). FLOPs per step are counted once with torch.utils.flop_counter on one forward +
backward pass.

    python3 bench/pretrain_bench.py                       # every configuration below
    python3 bench/pretrain_bench.py --only bert_tiny-bert --measure_steps 10

Add a configuration by appending to CONFIGS: a name, the preprocess target/options and the
pretrain options (the RNN family adds e.g. --embedding word --encoder lstm --target lm).
"""
import argparse
import contextlib
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
DEFAULT_CORPUS = os.path.join(SHARED, "corpora", "CLUECorpusSmall_bert_sampled.txt")
DEFAULT_VOCAB = os.path.join(SHARED, "vocab", "google_zh_vocab.txt")

# name -> (preprocess target, preprocess options, pretrain options)
CONFIGS = {
    "bert_tiny-bert": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                    "--target", "bert"]),
    "bert_tiny-bert-bf16": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                         "--target", "bert", "--fp16", "--amp_dtype", "bfloat16"]),
    "bert_tiny-gpt-lm": ("lm", [], ["--config_path", "models/bert_tiny_config.json",
                                    "--encoder", "gpt", "--target", "lm"]),
    # RNN/CNN zoo (issue 5): UER-py 2020 reached about 550 tokens/s for the LSTM LM.
    "rnn-lstm-lm": ("lm", [], ["--config_path", "models/rnn_config.json", "--embedding", "word",
                               "--encoder", "lstm", "--target", "lm"]),
    "gatedcnn_9-lm": ("lm", [], ["--config_path", "models/gatedcnn_9_config.json",
                                 "--embedding", "word", "--encoder", "gatedcnn", "--target", "lm"]),
}

LINE = re.compile(r"^\| +(\d+)/ +\d+ steps\| +(\d+\.\d+) tokens/s\| loss +([^|]+)", re.MULTILINE)


# --- child: one configuration ---------------------------------------------------------------
def count_step_flops(args):
    """FLOPs of one forward + backward pass on one batch of the dataset."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from uer.checkpoint import init_weights
    from uer.data.loader import build_pretrain_loader
    from uer.model import build_model
    from uer.report import total_loss
    from uer.trainer import split_batch

    model = build_model(args)
    init_weights(model)
    src, tgt, seg = split_batch(args.target, next(iter(build_pretrain_loader(args))))
    counter = FlopCounterMode(display=False)
    with counter:
        total_loss(args.target, model(src, tgt, seg)).backward()
    return counter.get_total_flops()


def run_child(argv, warmup_windows):
    import pretrain
    from uer.trainer import train

    args = pretrain.parse_args(argv)
    flops = count_step_flops(args)
    buffer = io.StringIO()
    began = time.time()
    with contextlib.redirect_stdout(buffer):
        train(args)
    seconds = time.time() - began
    lines = LINE.findall(buffer.getvalue())
    measured = [float(rate) for _, rate, _ in lines[warmup_windows:]]
    result = {
        "tokens_per_s": sum(measured) / max(1, len(measured)),
        "windows": len(measured),
        "final_loss": float(lines[-1][2]) if lines else float("nan"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "flops_per_step": flops,
        "tokens_per_step": args.batch_size * _seq_length(args.dataset_path),
        "seconds": seconds,
        "fp16": bool(args.fp16),
    }
    print("RESULT " + json.dumps(result))


def _seq_length(dataset_path):
    from uer.data.storage import read_header

    return read_header(dataset_path)["seq_length"]


# --- parent ------------------------------------------------------------------------------
def build_dataset(folder, corpus, lines, vocab, seq_length, target, options):
    key = "-".join([target, *[o.strip("-") for o in options]])
    path = os.path.join(folder, f"{key}.dataset")
    if not os.path.exists(path):
        corpus_slice = os.path.join(folder, "corpus.txt")
        if not os.path.exists(corpus_slice):
            with open(corpus, encoding="utf-8") as src, open(corpus_slice, "w", encoding="utf-8") as out:
                for number, line in enumerate(src):
                    if number >= lines:
                        break
                    out.write(line)
        subprocess.run([sys.executable, "preprocess.py", "--corpus_path", corpus_slice,
                        "--vocab_path", vocab, "--dataset_path", path, "--target", target,
                        "--seq_length", str(seq_length), "--dup_factor", "1", *options],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus_path", default=DEFAULT_CORPUS)
    parser.add_argument("--corpus_lines", type=int, default=4000)
    parser.add_argument("--vocab_path", default=DEFAULT_VOCAB)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--report_steps", type=int, default=5)
    parser.add_argument("--warmup_steps", type=int, default=5)
    parser.add_argument("--measure_steps", type=int, default=20)
    parser.add_argument("--peak_gflops_fp32", type=float, default=200.0,
                        help="Matmul peak of this machine in fp32 (2-core CPU: about 200).")
    parser.add_argument("--peak_gflops_bf16", type=float, default=420.0,
                        help="Matmul peak in bf16 (2-core CPU: about 420).")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=None)
    parser.add_argument("--json", default=None, help="Also write the results here.")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        run_child(args.child[1:], int(args.child[0]))
        return

    if args.warmup_steps % args.report_steps or args.measure_steps % args.report_steps:
        parser.error("--warmup_steps and --measure_steps must be multiples of --report_steps")
    total = args.warmup_steps + args.measure_steps
    results = {}
    with tempfile.TemporaryDirectory(prefix="pretrain-bench-") as folder:
        for name in args.only or CONFIGS:
            target, prep_options, options = CONFIGS[name]
            dataset = build_dataset(folder, args.corpus_path, args.corpus_lines, args.vocab_path,
                                    args.seq_length, target, prep_options)
            argv = ["--dataset_path", dataset, "--vocab_path", args.vocab_path,
                    "--output_model_path", os.path.join(folder, f"{name}.bin"),
                    "--batch_size", str(args.batch_size), "--total_steps", str(total),
                    "--report_steps", str(args.report_steps), "--save_checkpoint_steps",
                    str(total + 1), "--learning_rate", "1e-4", *options]
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                   str(args.warmup_steps // args.report_steps), *argv],
                                  cwd=REPO, capture_output=True, text=True)
            found = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
            if done.returncode != 0 or not found:
                print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            result = json.loads(found.group(1))
            peak = args.peak_gflops_bf16 if result["fp16"] else args.peak_gflops_fp32
            steps_per_s = result["tokens_per_s"] / result["tokens_per_step"]
            result["achieved_gflops"] = result["flops_per_step"] * steps_per_s / 1e9
            result["mfu"] = result["achieved_gflops"] / peak
            results[name] = result
            print(f"{name}: {result['tokens_per_s']:.0f} tokens/s", file=sys.stderr, flush=True)

    print(f"\nbatch {args.batch_size}, seq {args.seq_length}, {args.measure_steps} measured steps "
          f"after {args.warmup_steps} warm-up; torch threads: default")
    print(f"| configuration | tokens/s | peak RSS (MiB) | GFLOP/step | achieved GFLOP/s | MFU | loss |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['tokens_per_s']:.0f} | {r['peak_rss_mib']:.0f} | "
              f"{r['flops_per_step'] / 1e9:.1f} | {r['achieved_gflops']:.1f} | {r['mfu']:.0%} | "
              f"{r['final_loss']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
