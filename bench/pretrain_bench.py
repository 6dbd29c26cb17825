"""Pre-training throughput: tokens/s, peak RSS and model FLOPs utilisation of pretrain.py,
against HuggingFace BertForPreTraining of the same sizes on the same batches.

Each configuration runs in its own process (so peak RSS is its own): a dataset is built once per
(target, preprocess options) with preprocess.py from a slice of the corpus, then pretrain.py
trains for --warmup_steps + --measure_steps steps; tokens/s is the mean over the report windows
after the warm-up ones (the report line counts every token of every batch, padding included, as
UER-py did). The HuggingFace rows train transformers.BertForPreTraining, built locally from a
BertConfig of the bert_tiny sizes (no download), on the batches of the same dataset with the same
optimizer: "hf-bert-full" as is (MLM logits at every position), "hf-bert-masked" with its MLM
head run on the masked rows only. Peak RSS is read right after training; FLOPs per step are then
counted with torch.utils.flop_counter on one forward + backward pass. MFU divides the achieved
FLOP rate by this CPU's matmul peak, measured in the same run (torch.mm, --threads threads).

    python3 bench/pretrain_bench.py                       # the issue-3 set (ours, HF, fp16/bf16)
    python3 bench/pretrain_bench.py --only bert_tiny-bert hf-bert-masked --measure_steps 10
    python3 bench/pretrain_bench.py --all                 # also the RNN/CNN zoo rows

Add a configuration by appending to CONFIGS: a name, the preprocess target/options and the
pretrain options (the RNN family adds e.g. --embedding word --encoder lstm --target lm).
"""
import argparse
import contextlib
import io
import itertools
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
    # --fp16 as a user would type it: bf16 autocast where the CPU has native bf16, fp32 otherwise.
    "bert_tiny-bert-fp16": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                         "--target", "bert", "--fp16"]),
    # bf16 autocast forced, even on a CPU that only emulates bf16 (slow: fewer steps, see SLOW).
    "bert_tiny-bert-bf16": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                         "--target", "bert", "--fp16", "--amp_dtype", "bfloat16"]),
    "bert_tiny-gpt-lm": ("lm", [], ["--config_path", "models/bert_tiny_config.json",
                                    "--encoder", "gpt", "--target", "lm"]),
    # RNN/CNN zoo (issue 5): UER-py 2020 reached about 550 tokens/s for the LSTM LM.
    "rnn-lstm-lm": ("lm", [], ["--config_path", "models/rnn_config.json", "--embedding", "word",
                               "--encoder", "lstm", "--target", "lm"]),
    "gatedcnn_9-lm": ("lm", [], ["--config_path", "models/gatedcnn_9_config.json",
                                 "--embedding", "word", "--encoder", "gatedcnn", "--target", "lm"]),
    # --group_by_length: batches of similar length, so trimmed padding saves most of the work on
    # this corpus of short lines (an lm instance averages 32 real tokens of 128).
    "rnn-lstm-lm-grouped": ("lm", [], ["--config_path", "models/rnn_config.json",
                                       "--embedding", "word", "--encoder", "lstm", "--target", "lm",
                                       "--group_by_length"]),
    "gatedcnn_9-lm-grouped": ("lm", [], ["--config_path", "models/gatedcnn_9_config.json",
                                         "--embedding", "word", "--encoder", "gatedcnn",
                                         "--target", "lm", "--group_by_length"]),
    "bert_tiny-bert-grouped": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                            "--target", "bert", "--group_by_length"]),
    # --compile (torch.compile, inductor): compiled in the warm-up windows, which are not timed.
    "bert_tiny-bert-compile": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                            "--target", "bert", "--compile"]),
    "bert_tiny-bert-fp16-compile": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                                 "--target", "bert", "--fp16", "--compile"]),
    "bert_tiny-bert-grouped-compile": ("bert", [], ["--config_path", "models/bert_tiny_config.json",
                                                    "--target", "bert", "--group_by_length",
                                                    "--compile"]),
}

# HuggingFace BertForPreTraining rows: name -> MLM head mode; they read the "bert" dataset.
HF_CONFIGS = {"hf-bert-full": "full", "hf-bert-masked": "masked"}
# What runs without --only/--all: the comparison issue 3 asks for.
DEFAULT_SET = ["bert_tiny-bert", "bert_tiny-gpt-lm", "hf-bert-full", "hf-bert-masked",
               "bert_tiny-bert-fp16", "bert_tiny-bert-bf16"]
# Configurations measured with report windows of one step and --slow_measure_steps steps.
SLOW = {"bert_tiny-bert-bf16"}

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
    buffer = io.StringIO()
    began = time.time()
    with contextlib.redirect_stdout(buffer):
        train(args)
    seconds = time.time() - began
    # Read before the FLOP-counting pass below, which builds a second model.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = buffer.getvalue()
    lines = LINE.findall(text)
    measured = [float(rate) for _, rate, _ in lines[warmup_windows:]]
    precision = re.search(r"precision: (.*)$", text, re.MULTILINE)
    result = {
        # Every window holds the same tokens, so the run's rate is the harmonic mean of windows
        # (an arithmetic mean would overstate runs whose batch lengths vary, e.g. grouped ones).
        "tokens_per_s": len(measured) / sum(1.0 / rate for rate in measured) if measured else 0.0,
        "windows": len(measured),
        "final_loss": float(lines[-1][2]) if lines else float("nan"),
        "peak_rss_mib": peak_rss,
        # Grouped batches vary in width: one batch's FLOPs would not describe the run.
        "flops_per_step": None if args.group_by_length else count_step_flops(args),
        "tokens_per_step": args.batch_size * _seq_length(args.dataset_path),
        "seconds": seconds,
        "precision": precision.group(1).strip() if precision else "?",
        "bf16": "bf16" in (precision.group(1) if precision else ""),
    }
    print("RESULT " + json.dumps(result))


def hf_model(args):
    """transformers.BertForPreTraining with the sizes of args' config, built locally."""
    from transformers import BertConfig, BertForPreTraining

    config = BertConfig(vocab_size=len(args.vocab), hidden_size=args.hidden_size,
                        num_hidden_layers=args.layers_num, num_attention_heads=args.heads_num,
                        intermediate_size=args.feedforward_size, hidden_act="gelu",
                        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                        max_position_embeddings=512, type_vocab_size=2,
                        # untied, like UER-py's bert target: the same parameter count as ours
                        tie_word_embeddings=False)
    return BertForPreTraining(config)


def hf_loss(model, mode, src, tgt_mlm, is_next, seg):
    """Our batch (seg 1/2, 0 = padding; tgt_mlm 0 = not masked) in HF's terms."""
    import torch
    import torch.nn.functional as F

    attention_mask = (seg > 0).long()
    token_type_ids = (seg == 2).long()
    if mode == "full":  # HF as is: MLM logits at every position
        labels = torch.where(tgt_mlm > 0, tgt_mlm, torch.full_like(tgt_mlm, -100))
        return model(input_ids=src, attention_mask=attention_mask, token_type_ids=token_type_ids,
                     labels=labels, next_sentence_label=is_next).loss
    sequence, pooled = model.bert(input_ids=src, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids)[:2]
    rows = tgt_mlm > 0
    logits = model.cls.predictions(sequence[rows])
    return (F.cross_entropy(logits, tgt_mlm[rows])
            + F.cross_entropy(model.cls.seq_relationship(pooled), is_next))


def run_hf_child(mode, warmup_steps, measure_steps, argv):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import pretrain
    from uer.data.loader import build_pretrain_loader
    from uer.optim import build_optimizer, build_scheduler
    from uer.seed import set_seed

    args = pretrain.parse_args(argv)
    set_seed(args.seed)
    model = hf_model(args)
    model.train()
    optimizer = build_optimizer(model, args.learning_rate, betas=(args.beta1, args.beta2))
    scheduler = build_scheduler(optimizer, warmup_steps + measure_steps, args.warmup)
    batches = iter(build_pretrain_loader(args))
    tokens, began, loss = 0, None, float("nan")
    for step in range(warmup_steps + measure_steps):
        if step == warmup_steps:
            began = time.perf_counter()
        src, tgt_mlm, is_next, seg = next(batches)
        loss = hf_loss(model, mode, src, tgt_mlm, is_next, seg)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += src.numel() if step >= warmup_steps else 0
    seconds = time.perf_counter() - began
    loss = float(loss)  # one sync, after the timed steps
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    src, tgt_mlm, is_next, seg = next(batches)
    counter = FlopCounterMode(display=False)
    with counter:
        hf_loss(model, mode, src, tgt_mlm, is_next, seg).backward()
    result = {
        "tokens_per_s": tokens / seconds, "windows": measure_steps, "final_loss": loss,
        "peak_rss_mib": peak_rss, "flops_per_step": counter.get_total_flops(),
        "tokens_per_step": src.numel(), "seconds": seconds, "precision": "fp32", "bf16": False,
    }
    print("RESULT " + json.dumps(result))


def matmul_peak_gflops(dtype_name, size=2048, repeats=5):
    """Best gemm rate (GFLOP/s) of this process's threads, torch.mm or the linears' oneDNN
    road where it serves (uer/layers/onednn_linear.py): the MFU denominator."""
    import torch

    from uer.layers.onednn_linear import linear

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    best = float("inf")
    with torch.no_grad():
        for gemm in (torch.mm, linear):
            gemm(a, b)
            for _ in range(repeats):
                began = time.perf_counter()
                gemm(a, b)
                best = min(best, time.perf_counter() - began)
    return 2 * size ** 3 / best / 1e9


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
                out.writelines(itertools.islice(src, lines))
        subprocess.run([sys.executable, "preprocess.py", "--corpus_path", corpus_slice,
                        "--vocab_path", vocab, "--dataset_path", path, "--target", target,
                        "--seq_length", str(seq_length), "--dup_factor", "1", *options],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def child_env(threads):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def measure_peaks(threads):
    import torch

    torch.set_num_threads(threads)
    return {"fp32": matmul_peak_gflops("float32"), "bf16": matmul_peak_gflops("bfloat16", 1024, 2)}


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
    parser.add_argument("--slow_measure_steps", type=int, default=3,
                        help="Steps measured for the emulated-bf16 row (one warm-up step).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process.")
    parser.add_argument("--peak_gflops_fp32", type=float, default=None,
                        help="Matmul peak in fp32; default: measured with torch.mm in this run.")
    parser.add_argument("--peak_gflops_bf16", type=float, default=None,
                        help="Matmul peak in bf16; default: measured with torch.mm in this run.")
    choices = sorted([*CONFIGS, *HF_CONFIGS])
    parser.add_argument("--only", nargs="+", choices=choices, default=None)
    parser.add_argument("--all", action="store_true", help="Every configuration, zoo included.")
    parser.add_argument("--json", default=None, help="Also write the results here.")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--hf_child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None or args.hf_child is not None:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
        if args.child is not None:
            run_child(args.child[1:], int(args.child[0]))
        else:
            mode, warmup, measure, *argv = args.hf_child
            run_hf_child(mode, int(warmup), int(measure), argv)
        return

    if args.warmup_steps % args.report_steps or args.measure_steps % args.report_steps:
        parser.error("--warmup_steps and --measure_steps must be multiples of --report_steps")
    names = args.only or ([*CONFIGS, *HF_CONFIGS] if args.all else DEFAULT_SET)
    peaks = measure_peaks(args.threads)
    from uer.layers.onednn_linear import backend as linear_backend

    print(f"matmul peak ({args.threads} threads): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s; linears on {linear_backend()}", file=sys.stderr,
          flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="pretrain-bench-") as folder:
        for name in names:
            hf_mode = HF_CONFIGS.get(name)
            target, prep_options, options = CONFIGS["bert_tiny-bert" if hf_mode else name]
            warmup, measure, report = args.warmup_steps, args.measure_steps, args.report_steps
            if name in SLOW:
                warmup, measure, report = 1, args.slow_measure_steps, 1
            total = warmup + measure
            dataset = build_dataset(folder, args.corpus_path, args.corpus_lines, args.vocab_path,
                                    args.seq_length, target, prep_options)
            argv = ["--dataset_path", dataset, "--vocab_path", args.vocab_path,
                    "--output_model_path", os.path.join(folder, f"{name}.bin"),
                    "--batch_size", str(args.batch_size), "--total_steps", str(total),
                    "--report_steps", str(report), "--save_checkpoint_steps",
                    str(total + 1), "--learning_rate", "1e-4", *options]
            if hf_mode:
                child = ["--hf_child", hf_mode, str(warmup), str(measure), *argv]
            else:
                child = ["--child", str(warmup // report), *argv]
            done = subprocess.run([sys.executable, os.path.abspath(__file__), *child],
                                  cwd=REPO, capture_output=True, text=True,
                                  env=child_env(args.threads))
            found = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
            if done.returncode != 0 or not found:
                print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            results[name] = json.loads(found.group(1))
            print(f"{name}: {results[name]['tokens_per_s']:.0f} tokens/s", file=sys.stderr,
                  flush=True)
    # A second peak measurement: the machine's load may have changed during the run.
    later = measure_peaks(args.threads)
    peaks = {key: max(peaks[key], later[key]) for key in peaks}
    peak_fp32 = args.peak_gflops_fp32 or peaks["fp32"]
    peak_bf16 = args.peak_gflops_bf16 or peaks["bf16"]
    for result in results.values():
        if result["flops_per_step"] is None:
            result["achieved_gflops"] = result["mfu"] = None
            continue
        steps_per_s = result["tokens_per_s"] / result["tokens_per_step"]
        result["achieved_gflops"] = result["flops_per_step"] * steps_per_s / 1e9
        # A CPU that only emulates bf16 runs bf16 matmuls far below its fp32 peak; the machine's
        # real ceiling is then the faster of the two.
        peak = max(peak_bf16, peak_fp32) if result["bf16"] else peak_fp32
        result["mfu"] = result["achieved_gflops"] / peak

    print(f"\nbatch {args.batch_size}, seq {args.seq_length}, {args.measure_steps} measured steps "
          f"after {args.warmup_steps} warm-up (bf16 row: {args.slow_measure_steps} after 1); "
          f"{args.threads} torch threads; matmul peak fp32 {peak_fp32:.0f} GFLOP/s, "
          f"bf16 {peak_bf16:.0f} GFLOP/s (bf16 rows: MFU against the larger); load average {os.getloadavg()[0]:.1f}")
    hf = {mode: results[name]["tokens_per_s"] for name, mode in HF_CONFIGS.items()
          if name in results}
    print("| configuration | precision | tokens/s | vs HF full | vs HF masked | peak RSS (MiB) "
          "| GFLOP/step | achieved GFLOP/s | MFU | loss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratios = [f"{r['tokens_per_s'] / hf[mode]:.2f}x" if mode in hf else "-"
                  for mode in ("full", "masked")]
        if r["flops_per_step"] is None:
            flops = "- | - | -"
        else:
            flops = (f"{r['flops_per_step'] / 1e9:.1f} | {r['achieved_gflops']:.1f} "
                     f"| {r['mfu']:.0%}")
        print(f"| {name} | {r['precision']} | {r['tokens_per_s']:.0f} | {ratios[0]} | {ratios[1]} "
              f"| {r['peak_rss_mib']:.0f} | {flops} | {r['final_loss']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"peaks_gflops": peaks, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
