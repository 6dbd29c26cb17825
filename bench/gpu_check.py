"""GPU check: BERT-base pre-training tokens/s and model FLOPs utilisation (MFU) in fp32 (TF32),
bf16 autocast and fp16 + GradScaler, with and without --compile, on one GPU and through DDP (one
process, nccl); classifier fine-tuning and inference examples/s; peak GPU memory per row.

Run it as ``bench/gpu_check.sh`` (``--dry``: CPU, tiny config, two steps per row; a test runs it).
It needs only this repository, python and torch (numpy and tqdm from requirements.txt): the data
are random token ids, but every row goes through the project's own code, ``uer.trainer``'s
worker and step loop for pre-training and ``uer.finetune.engine.Engine`` for the classifier.

Rows run in order of importance and a row is skipped (and says so) when the time budget
(--budget, default 420 s) would be exceeded; the table is printed at the end, each row also as
soon as it is done.

MFU = model FLOPs per second / the GPU's dense peak for the row's precision (TF32 for fp32 rows).
Model FLOPs per step = 6 x (parameters outside the embedding tables and the MLM head) x tokens
+ 6 x (MLM head parameters) x masked tokens + 12 x layers x hidden x seq_length x tokens
(attention scores and weighted sums, forward and backward). The MLM head is counted on the masked
tokens only, the rows the loss reads (HF-style counting over every token would give a higher
figure); the last layer is counted in full although it computes only the masked rows. Peaks come
from the device name (table below); set UER_GPU_PEAK_TFLOPS (16-bit dense peak) and optionally
UER_GPU_PEAK_TF32_TFLOPS (default: half of it) for another GPU.
"""
import argparse
import contextlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import torch  # noqa: E402

from uer.finetune.tasks.classifier import ClassificationTask  # noqa: E402

# Dense (no sparsity) peak TFLOPS: name fragment -> (16-bit, TF32). First match wins.
GPU_PEAKS = [
    ("H200", (989.4, 494.7)),
    ("H100 PCIe", (756.0, 378.0)),
    ("H100 NVL", (835.0, 417.5)),
    ("H100", (989.4, 494.7)),   # SXM
    ("H800", (989.4, 494.7)),
    ("A100", (312.0, 156.0)),
    ("A800", (312.0, 156.0)),
    ("L40S", (362.1, 183.0)),
    ("L4", (121.0, 60.0)),
    ("A10", (125.0, 62.5)),
]
PRECISIONS = {  # name -> pretrain.py options
    "fp32": [],
    "bf16": ["--fp16", "--amp_dtype", "bfloat16"],
    "fp16": ["--fp16", "--amp_dtype", "float16"],
}
DRY_CONFIG = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu",
              "heads_num": 2, "layers_num": 2, "dropout": 0.1}
CHINESE_BERT_VOCAB = 21128  # google_zh_vocab.txt


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true",
                        help="CPU, tiny config, two steps per row (checks the script itself).")
    parser.add_argument("--config_path", default=os.path.join(REPO, "models", "bert_base_config.json"))
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[128, 64, 32],
                        help="Pre-training batch sizes to try, the first that fits is used.")
    parser.add_argument("--finetune_batch_size", type=int, default=64)
    parser.add_argument("--infer_batch_size", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=CHINESE_BERT_VOCAB)
    parser.add_argument("--warmup_steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per row.")
    parser.add_argument("--budget", type=float, default=420.0,
                        help="Seconds; rows that would not fit are skipped.")
    parser.add_argument("--compile_backend", default=None,
                        help="torch.compile backend (default: inductor; eager with --dry).")
    parser.add_argument("--json", default=None, help="Also write the rows to this JSON file.")
    args = parser.parse_args(argv)
    if args.dry:
        args.seq_length, args.batch_sizes, args.vocab_size = 16, [4], 200
        args.finetune_batch_size, args.infer_batch_size = 4, 4
        args.warmup_steps, args.steps = 0, 1
        args.compile_backend = args.compile_backend or "eager"
    args.compile_backend = args.compile_backend or "inductor"
    return args


# --- environment ---------------------------------------------------------------------------
def peaks(device):
    """(16-bit, TF32) dense peak TFLOPS of ``device``, or None when unknown."""
    if device.type != "cuda":
        return None
    override = os.environ.get("UER_GPU_PEAK_TFLOPS")
    if override:
        half = float(override)
        return half, float(os.environ.get("UER_GPU_PEAK_TF32_TFLOPS") or half / 2)
    name = torch.cuda.get_device_name(device)
    for fragment, values in GPU_PEAKS:
        if fragment in name:
            return values
    return None


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gb(device):
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2 ** 30


def is_oom(err):
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_dir():
    """Where rows write their models: RAM when possible (BERT-base + its state is ~1.7 GB)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="uer-gpu-check-", dir=base)


def synthetic_vocab(size):
    from uer.vocab import Vocab

    with open(os.path.join(REPO, "models", "reserved_vocab.txt"), encoding="utf-8") as handle:
        tokens = [line.strip() for line in handle if line.strip()]
    return Vocab(tokens + [f"tok{i}" for i in range(size - len(tokens))])


def model_config(opts, folder):
    """Path of the config the rows use (--dry: a tiny one written to ``folder``)."""
    if not opts.dry:
        return opts.config_path
    path = os.path.join(folder, "tiny_config.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(DRY_CONFIG, handle)
    return path


# --- pre-training ----------------------------------------------------------------------------
def bert_batches(vocab, batch_size, seq_length, count=4, seed=0):
    """Random two-segment instances with 15% of positions masked (UER's bert-target tuple)."""
    gen = torch.Generator().manual_seed(seed)
    first = vocab.mask_id + 1
    batches = []
    for _ in range(count):
        src = torch.randint(first, len(vocab), (batch_size, seq_length), generator=gen)
        half = seq_length // 2
        src[:, 0] = vocab.cls_id
        src[:, half - 1] = vocab.sep_id
        src[:, -1] = vocab.sep_id
        seg = torch.ones_like(src)
        seg[:, half:] = 2
        chosen = torch.rand(src.shape, generator=gen) < 0.15
        chosen[:, 0] = False
        chosen[:, 1] = True  # every row has a masked token
        tgt = torch.where(chosen, src, torch.zeros_like(src))
        src = torch.where(chosen, torch.full_like(src, vocab.mask_id), src)
        is_next = torch.randint(0, 2, (batch_size,), generator=gen)
        batches.append((src, tgt, is_next, seg))
    return batches


class TimedLoader:
    """Cycles ``batches``; when batch ``start`` (0-based) is asked for, the steps before it are
    finished (after a device sync), so [t0, t1] spans exactly ``stop - start`` steps."""

    def __init__(self, batches, start, stop, device):
        self.batches, self.start, self.stop, self.device = batches, start, stop, device
        self.position, self.t0, self.t1 = 0, None, None

    def __iter__(self):
        while True:
            if self.position in (self.start, self.stop):
                synchronize(self.device)
                setattr(self, "t0" if self.position == self.start else "t1", time.perf_counter())
            yield self.batches[self.position % len(self.batches)]
            self.position += 1

    def state_dict(self):  # saved with the final training state
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]


def flops_per_step(model, args, batch):
    """Model FLOPs of one training step on ``batch`` (see the module docstring)."""
    src, tgt, _, _ = batch
    tokens, masked = src.numel(), int((tgt > 0).sum())
    params = {name: p.numel() for name, p in model.named_parameters()}
    embedding = sum(n for name, n in params.items() if name.startswith("embedding."))
    # The MLM head: the target's parameters except the sentence (nsp/sop) head's.
    head = sum(n for name, n in params.items() if name.startswith("target.")
               and not name.startswith(("target.nsp_", "target.sop_")))
    dense = sum(params.values()) - embedding - head
    attention = 12 * args.layers_num * args.hidden_size * src.size(1) * tokens
    return 6 * dense * tokens + 6 * head * masked + attention


def pretrain_args(opts, config_path, precision, compiled, batch_size, folder):
    import pretrain
    from uer.config import parse_with_config

    steps = opts.warmup_steps + opts.steps + 1
    argv = ["--config_path", config_path, "--output_model_path", os.path.join(folder, "model.bin"),
            "--target", "bert", "--batch_size", str(batch_size), "--total_steps", str(steps),
            "--report_steps", str(steps), "--save_checkpoint_steps", str(10 ** 9),
            "--learning_rate", "1e-4", *PRECISIONS[precision]]
    if compiled:
        argv += ["--compile", "--compile_backend", opts.compile_backend]
    return parse_with_config(pretrain.build_parser(), argv)


def layout_for(device, ddp):
    from uer.distributed import Layout

    if ddp:
        # --world_size 1 --gpu_ranks 0 on the command line means one GPU without a process
        # group; this is the layout of --world_size N with N = 1: DDP over nccl (gloo on CPU).
        cuda = device.type == "cuda"
        return Layout("distributed", world_size=1, ranks=[0], use_cuda=cuda,
                      backend="nccl" if cuda else "gloo",
                      init_method=f"tcp://127.0.0.1:{free_port()}", timeout_s=300)
    if device.type == "cuda":
        return Layout("gpu", gpu_id=device.index or 0, use_cuda=True)
    return Layout("cpu")


def pretrain_once(opts, env, precision, compiled, ddp, batch_size):
    from uer.distributed import destroy_process_group
    from uer.trainer import prepare_model, run_worker

    folder = scratch_dir()
    try:
        args = pretrain_args(opts, env["config"], precision, compiled, batch_size, folder)
        args.vocab = env["vocab"]
        model = prepare_model(args)
        batches = bert_batches(env["vocab"], batch_size, opts.seq_length)
        flops = sum(flops_per_step(model, args, b) for b in batches) / len(batches)
        loader = TimedLoader(batches, opts.warmup_steps, opts.warmup_steps + opts.steps,
                             env["device"])
        reset_memory(env["device"])
        with contextlib.redirect_stdout(io.StringIO()):
            run_worker(0, layout_for(env["device"], ddp), model, args, lambda *_: loader)
        seconds = loader.t1 - loader.t0
        return {"batch": batch_size, "throughput": batch_size * opts.seq_length * opts.steps / seconds,
                "flops_per_s": flops * opts.steps / seconds,
                "peak_memory_gb": peak_memory_gb(env["device"])}
    finally:
        destroy_process_group()  # a row that failed early must not leave its group behind
        shutil.rmtree(folder, ignore_errors=True)


def pretrain_row(opts, env, precision, compiled, ddp):
    """The largest batch of --batch_sizes that fits (remembered per precision)."""
    if precision == "fp16" and env["device"].type != "cuda":
        return {"note": "skipped: fp16 + GradScaler needs CUDA"}
    sizes = env["fits"].get(precision) or opts.batch_sizes
    for position, batch_size in enumerate(sizes):
        try:
            result = pretrain_once(opts, env, precision, compiled, ddp, batch_size)
            env["fits"][precision] = sizes[position:]
            peak = env["peaks"]
            if peak:
                result["mfu"] = result["flops_per_s"] / (peak[1 if precision == "fp32" else 0] * 1e12)
            return result
        except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
            if not is_oom(err):
                raise
            torch.cuda.empty_cache()
        finally:
            reset_dynamo()
    return {"note": f"out of memory at batch {' / '.join(map(str, sizes))}"}


def reset_dynamo():
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()


# --- fine-tuning and inference -----------------------------------------------------------------
def classifier_engine(opts, env, precision, compiled, folder):
    from uer.finetune.engine import Engine
    from uer.finetune.heads import Classifier
    from uer.finetune.runtime import Runtime
    from uer.model import model_args
    from uer.seed import set_seed

    args = model_args(env["config"], env["vocab"], pooling="first")
    amp = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}[precision]
    for key, value in dict(batch_size=opts.finetune_batch_size, learning_rate=2e-5, warmup=0.1,
                           epochs_num=1, report_steps=10 ** 9, seed=7, fp16=amp is not None,
                           fp16_opt_level="O1", amp_dtype=amp or "auto", compile=compiled,
                           compile_backend=opts.compile_backend,
                           output_model_path=os.path.join(folder, "classifier.bin")).items():
        setattr(args, key, value)
    set_seed(7)
    task = TimedTask(opts.warmup_steps, opts.warmup_steps + opts.steps, env["device"])
    return Engine(args, task, Classifier(args, 2), runtime=Runtime(args, env["device"])), task


def random_examples(vocab, count, seq_length, seed=1):
    from uer.finetune.batching import Example

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab.mask_id + 1, len(vocab), (count, seq_length), generator=gen)
    ids[:, 0], ids[:, -1] = vocab.cls_id, vocab.sep_id
    return [Example(row.tolist(), seq_length, label=i % 2) for i, row in enumerate(ids)]


class TimedTask(ClassificationTask):
    """The classifier task; the training loss calls ``start`` and ``stop`` (0-based) record the
    time after a device sync, so [t0, t1] spans ``stop - start`` training steps."""

    def __init__(self, start, stop, device):
        super().__init__(2)
        self.start, self.stop, self.device = start, stop, device
        self.calls, self.t0, self.t1 = 0, None, None

    def loss(self, model, batch):
        if self.calls in (self.start, self.stop):
            synchronize(self.device)
            setattr(self, "t0" if self.calls == self.start else "t1", time.perf_counter())
        self.calls += 1
        return super().loss(model, batch)


def finetune_row(opts, env, precision, compiled):
    """Training examples/s (one epoch of warmup + timed + 1 batches) and prediction examples/s."""
    if precision == "fp16" and env["device"].type != "cuda":
        return {"note": "skipped: fp16 + GradScaler needs CUDA"}
    folder = scratch_dir()
    try:
        engine, task = classifier_engine(opts, env, precision, compiled, folder)
        batch, infer_batch = opts.finetune_batch_size, opts.infer_batch_size
        train = random_examples(env["vocab"], batch * (opts.warmup_steps + opts.steps + 1),
                                opts.seq_length)
        reset_memory(env["device"])
        with contextlib.redirect_stdout(io.StringIO()):
            engine.fit(train, train[:2])
            train_rate = batch * opts.steps / (task.t1 - task.t0)
            infer = random_examples(env["vocab"], infer_batch * max(1, opts.steps), opts.seq_length)
            engine.predict_stacked(infer[:infer_batch * max(1, opts.warmup_steps)],
                                   batch_size=infer_batch)  # warm-up (and compilation)
            synchronize(env["device"])
            start = time.perf_counter()
            engine.predict_stacked(infer, batch_size=infer_batch)
            synchronize(env["device"])
        infer_rate = len(infer) / (time.perf_counter() - start)
        return {"batch": f"{batch}/{infer_batch}", "throughput": train_rate,
                "infer_throughput": infer_rate, "peak_memory_gb": peak_memory_gb(env["device"])}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        reset_dynamo()


# --- the table ---------------------------------------------------------------------------------
def planned_rows():
    """(name, kind, precision, compiled, ddp), most important first."""
    rows = [("pretrain", p, False, False) for p in ("fp32", "bf16", "fp16")]
    rows += [("finetune", p, False, False) for p in ("fp32", "bf16")]
    rows += [("pretrain", "bf16", False, True), ("pretrain", "bf16", True, False),
             ("pretrain", "bf16", True, True)]
    rows += [("pretrain", p, False, True) for p in ("fp32", "fp16")]
    rows += [("pretrain", p, True, False) for p in ("fp32", "fp16")]
    rows += [("finetune", "bf16", True, False)]
    rows += [("pretrain", p, True, True) for p in ("fp32", "fp16")]
    return rows


def label(kind, precision, compiled, ddp):
    what = "BERT pre-training" if kind == "pretrain" else "classifier fine-tune / infer"
    return (f"{what}, {precision}{' (TF32)' if precision == 'fp32' else ''}"
            f"{', compile' if compiled else ''}{', DDP nccl x1' if ddp else ''}")


def format_row(row):
    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    rate = num(row.get("throughput"), ",.0f")
    if row.get("infer_throughput") is not None:
        rate += f" / {row['infer_throughput']:,.0f} ex/s"
    elif row.get("throughput") is not None:
        rate += " tok/s" if row["kind"] == "pretrain" else " ex/s"
    mfu = row.get("mfu")
    return (f"| {row['label']:<55} | {str(row.get('batch', '-')):>7} | {rate:>22} | "
            f"{'-' if mfu is None else f'{100 * mfu:.1f}%':>6} | "
            f"{num(row.get('peak_memory_gb'), '.2f'):>8} | {num(row.get('seconds'), '.0f'):>4} | "
            f"{row.get('note', '')}")


HEADER = (f"| {'row':<55} | {'batch':>7} | {'train (/ infer) speed':>22} | {'MFU':>6} | "
          f"{'peak GiB':>8} | {'s':>4} | note")


def run_rows(opts, env):
    results, started = [], time.perf_counter()
    longest = {}  # kind + compiled -> longest row so far (seconds), to predict the next one
    print(HEADER, flush=True)
    for kind, precision, compiled, ddp in planned_rows():
        row = {"label": label(kind, precision, compiled, ddp), "kind": kind,
               "precision": precision, "compile": compiled, "ddp": ddp}
        expected = longest.get((kind, compiled), 0.0)
        if time.perf_counter() - started + expected > opts.budget:
            row["note"] = f"skipped: time budget ({opts.budget:.0f} s)"
        else:
            begin = time.perf_counter()
            try:
                if kind == "pretrain":
                    row.update(pretrain_row(opts, env, precision, compiled, ddp))
                else:
                    row.update(finetune_row(opts, env, precision, compiled))
            except Exception as err:  # noqa: BLE001 - one broken row must not hide the others
                row["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"
                row["note"] = "error: " + row["error"]
                traceback.print_exc(file=sys.stderr)
            row["seconds"] = time.perf_counter() - begin
            key = (kind, compiled)
            longest[key] = max(longest.get(key, 0.0), row["seconds"])
        print(format_row(row), flush=True)
        results.append(row)
    return results, time.perf_counter() - started


def main(argv=None):
    opts = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not opts.dry else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 rows use TF32 tensor cores
        torch.backends.cudnn.allow_tf32 = True
    folder = scratch_dir()
    try:
        env = {"device": device, "vocab": synthetic_vocab(opts.vocab_size),
               "config": model_config(opts, folder), "fits": {}, "peaks": peaks(device)}
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
        peak = env["peaks"]
        print(f"# {name}; torch {torch.__version__}; config {os.path.basename(env['config'])}, "
              f"seq {opts.seq_length}, {opts.steps} timed steps after {opts.warmup_steps}; peak "
              + (f"{peak[0]:g} TFLOPS 16-bit / {peak[1]:g} TF32" if peak else
                 "unknown (set UER_GPU_PEAK_TFLOPS for MFU)"), flush=True)
        results, total = run_rows(opts, env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{HEADER}")
    order = list(PRECISIONS)
    for row in sorted(results, key=lambda r: (r["kind"] != "pretrain", r["ddp"], r["compile"],
                                              order.index(r["precision"]))):
        print(format_row(row))
    print(f"# total {total:.0f} s")
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as handle:
            json.dump({"device": name, "seconds": total, "rows": results}, handle, indent=1)
    return 1 if any("error" in row for row in results) else 0


if __name__ == "__main__":
    sys.exit(main())
