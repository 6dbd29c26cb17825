"""Fine-tuning and inference speed: our task models vs HuggingFace's of the same sizes.

Classifier (book_review) vs BertForSequenceClassification, and with ``--tasks`` NER (MSRA),
CMRC (CMRC2018 windows, seq 512, batch 8) and C3 (4 choices) vs BertForTokenClassification,
BertForQuestionAnswering and BertForMultipleChoice (bench/finetune_tasks.py). Models have
bert_tiny's sizes (built locally, no download), see the same batches and train with the same
AdamW. Reports examples/s (model inputs: sentences, CMRC windows, C3 questions). The task
rows also time inference with each model in a fresh process (bench/fresh_inference.py), as the
inference scripts run, besides the lockstep figure taken after training in this process.

    python3 bench/finetune_bench.py [--tasks classifier ner cmrc c3] [--train_batches 30]

Our linears run on MKL or oneDNN by the machine (uer/layers/onednn_linear.py; the header says
which); ``UER_LINEAR_BACKEND=mkl`` (or ``onednn``) before the command times the other one.
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from uer.checkpoint import init_weights  # noqa: E402
from uer.config import load_config  # noqa: E402
import numpy as np  # noqa: E402

from uer.finetune.batching import fixed_slices, length_sorted_batches, shuffled_batches  # noqa: E402
from uer.finetune.encoding import PairEncoder  # noqa: E402
from uer.finetune.heads import Classifier  # noqa: E402
from uer.finetune.tasks.classifier import ClassificationTask, read_classification  # noqa: E402
from uer.layers.onednn_linear import backend as linear_backend  # noqa: E402
from uer.model import model_args  # noqa: E402
from uer.optim import build_optimizer  # noqa: E402
from uer.tokenizers import str2tokenizer  # noqa: E402
from uer.vocab import Vocab  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config_path", default=os.path.join(REPO, "models", "bert_tiny_config.json"))
    parser.add_argument("--vocab_path", default=os.path.join(SHARED, "vocab", "google_zh_vocab.txt"))
    parser.add_argument("--train_path", default=os.path.join(SHARED, "datasets", "book_review", "train.tsv"))
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--infer_batch_size", type=int, default=128)
    parser.add_argument("--train_batches", type=int, default=30)
    parser.add_argument("--infer_examples", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default).")
    parser.add_argument("--skip_hf", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="Also time our classifier under --compile (torch.compile).")
    parser.add_argument("--bf16", action="store_true",
                        help="Also time our classifier under --fp16 (bf16 autocast).")
    parser.add_argument("--tasks", nargs="+", default=["classifier", "ner", "cmrc", "c3"],
                        choices=["classifier", "ner", "cmrc", "c3"])
    parser.add_argument("--task_train_batches", type=int, default=12,
                        help="Timed training steps of the NER, CMRC and C3 rows.")
    parser.add_argument("--task_infer_examples", type=int, default=256)
    parser.add_argument("--fresh_inference_rounds", type=int, default=2,
                        help="NER/CMRC/C3: also time inference with each model in a process of "
                             "its own (bench/fresh_inference.py), best of this many alternating "
                             "rounds; 0 skips it.")
    parser.add_argument("--ner_seq_length", type=int, default=128)
    parser.add_argument("--ner_batch_size", type=int, default=32)
    parser.add_argument("--cmrc_seq_length", type=int, default=512)
    parser.add_argument("--cmrc_batch_size", type=int, default=8)
    parser.add_argument("--c3_seq_length", type=int, default=512)
    parser.add_argument("--c3_batch_size", type=int, default=8)
    return parser.parse_args()


def hf_model(config, vocab_size, labels_num):
    from transformers import BertConfig, BertForSequenceClassification

    hf_config = BertConfig(vocab_size=vocab_size, hidden_size=config["hidden_size"],
                           num_hidden_layers=config["layers_num"],
                           num_attention_heads=config["heads_num"],
                           intermediate_size=config["feedforward_size"],
                           hidden_dropout_prob=config["dropout"],
                           attention_probs_dropout_prob=config["dropout"],
                           max_position_embeddings=512, type_vocab_size=3, num_labels=labels_num)
    return BertForSequenceClassification(hf_config)


def ours_forward(model):
    return lambda src, seg: model(src, seg)


def bf16_forward(model):
    def forward(src, seg):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(src, seg)
    return forward


def variant_contenders(args, ours):
    """--compile / --bf16: copies of our classifier (same weights) run as those options do."""
    import copy

    from uer.compile import compile_model

    rows = []
    if args.bf16:
        twin = copy.deepcopy(ours)
        rows.append(("ours --fp16 (bf16)", twin, bf16_forward(twin)))
    if args.compile:
        twin = copy.deepcopy(ours)
        compiled = compile_model(twin, argparse.Namespace(compile=True))
        rows.append(("ours --compile", twin, ours_forward(compiled)))
    return rows


def hf_forward(model):
    return lambda src, seg: model(input_ids=src, attention_mask=(seg > 0).long(),
                                  token_type_ids=seg).logits


def padded(batch, seq_length):
    src, seg = batch
    extra = seq_length - src.size(1)
    return F.pad(src, (0, extra)), F.pad(seg, (0, extra))


def time_training(contenders, batches):
    """Examples/s of each (model, forward), stepping them in lockstep on the same batches so a
    change in machine load hits all alike. The first two steps are warm-up, not timed; their
    seconds are returned too (--compile compiles there)."""
    optimizers = [build_optimizer(model, 2e-5) for model, _ in contenders]
    seconds = [0.0] * len(contenders)
    warmup = [0.0] * len(contenders)
    count = 0
    for step, (src, seg, label) in enumerate(batches):
        for index, ((model, forward), optimizer) in enumerate(zip(contenders, optimizers)):
            model.train()
            start = time.perf_counter()
            F.cross_entropy(forward(src, seg), label).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= 2:
                seconds[index] += time.perf_counter() - start
            else:
                warmup[index] += time.perf_counter() - start
        count += src.size(0) if step >= 2 else 0
    return [count / s for s in seconds], warmup


def time_inference(contenders, batches):
    seconds = [0.0] * len(contenders)
    count = 0
    with torch.inference_mode():
        for model, forward in contenders:
            model.eval()
            forward(*batches[0])  # warm-up (--compile: two shapes, the graph becomes dynamic)
            forward(*batches[-1])
        for src, seg in batches:
            for index, (_, forward) in enumerate(contenders):
                start = time.perf_counter()
                forward(src, seg)
                seconds[index] += time.perf_counter() - start
            count += src.size(0)
    return [count / s for s in seconds]


def time_closures(contenders, batches, train):
    """Examples/s of each contender's ``loss`` (train: + backward + AdamW step) or ``predict``
    over the same batches, in lockstep; the first batch (two in training) is warm-up."""
    from finetune_tasks import run_contender

    optimizers = [build_optimizer(c.model, 2e-5) if train else None for c in contenders]
    seconds = [0.0] * len(contenders)
    count = 0
    warmup = 2 if train else 1
    context = torch.enable_grad() if train else torch.inference_mode()
    with context:
        for contender in contenders:
            contender.model.train(train)
        for step, batch in enumerate(batches):
            for index, (contender, optimizer) in enumerate(zip(contenders, optimizers)):
                start = time.perf_counter()
                run_contender(contender, optimizer, batch, train)
                if step >= warmup:
                    seconds[index] += time.perf_counter() - start
            count += batch["src"].size(0) if step >= warmup else 0
    return [count / s if s else float("nan") for s in seconds]


def task_rows(args, config, vocab, margs):
    from finetune_tasks import CASES

    names = {"ner": "NER", "cmrc": "CMRC", "c3": "C3"}
    args.train_batches, args.infer_examples = args.task_train_batches, args.task_infer_examples
    for key in [t for t in args.tasks if t in CASES]:
        torch.manual_seed(7)
        case = CASES[key](args, margs, config, vocab, SHARED)
        init_weights(case.ours.model)
        contenders = [case.ours] + ([] if args.skip_hf else [case.hf])
        print(f"\n{names[key]}: {case.note}; {len(case.train_batches) - 2} timed training "
              f"steps, {sum(b['src'].size(0) for b in case.infer_batches)} inference inputs; "
              f"load average {os.getloadavg()[0]:.2f}; linears on {linear_backend()}", flush=True)
        train_rates = time_closures(contenders, case.train_batches, train=True)
        infer_rates = time_closures(contenders, case.infer_batches, train=False)
        print(f"{'model':52s} {'train ex/s':>11s} {'infer ex/s':>11s}")
        for contender, train_rate, infer_rate in zip(contenders, train_rates, infer_rates):
            print(f"{contender.name:52s} {train_rate:11.1f} {infer_rate:11.1f}", flush=True)
        if len(contenders) == 2:
            print(f"{'ours / HF':52s} {train_rates[0] / train_rates[1]:10.2f}x "
                  f"{infer_rates[0] / infer_rates[1]:10.2f}x", flush=True)
        if len(contenders) == 2 and args.fresh_inference_rounds > 0:
            from fresh_inference import fresh_rates

            (ours, ours_faults), (hf, hf_faults) = fresh_rates(key, args,
                                                               args.fresh_inference_rounds)
            print(f"{'inference, each model in a fresh process:':52s} {'':11s} {ours:11.1f} "
                  f"ours ({ours_faults} page faults)")
            print(f"{'':52s} {'':11s} {hf:11.1f} HF ({hf_faults} page faults)")
            print(f"{'ours / HF, fresh process':52s} {'':11s} {ours / hf:10.2f}x", flush=True)


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    config = load_config(args.config_path)
    if "classifier" not in args.tasks:
        vocab = Vocab.from_file(args.vocab_path)
        margs = model_args(config, vocab, vocab_path=args.vocab_path, spm_model_path=None)
        task_rows(args, config, vocab, margs)
        return
    vocab = Vocab.from_file(args.vocab_path)
    margs = model_args(config, vocab, pooling="first", vocab_path=args.vocab_path,
                       spm_model_path=None)
    tokenizer = str2tokenizer["bert"](margs)
    encoder = PairEncoder(tokenizer, vocab, args.seq_length)
    started = time.perf_counter()
    examples = read_classification(args.train_path, encoder)
    tokenize_s = time.perf_counter() - started
    task = ClassificationTask(2)

    # The engine's training order: random pools of 50 batches, each sorted by length.
    engine_batches = shuffled_batches(examples, args.batch_size, np.random.default_rng(7))
    train_batches = []
    for chunk in engine_batches[:args.train_batches + 2]:
        batch = task.collate(chunk)
        train_batches.append((batch["src"], batch["seg"], batch["label"]))
    infer_set = examples[:args.infer_examples]
    infer_dynamic = []
    for indices in length_sorted_batches(infer_set, args.infer_batch_size):
        batch = task.collate([infer_set[i] for i in indices])
        infer_dynamic.append((batch["src"], batch["seg"]))
    infer_fixed = []
    for chunk in fixed_slices(infer_set, args.infer_batch_size):
        batch = task.collate(chunk)
        infer_fixed.append(padded((batch["src"], batch["seg"]), args.seq_length))
    train_fixed = [(*padded((s, g), args.seq_length), y) for s, g, y in train_batches]
    mean_len = sum(len(ex) for ex in examples) / len(examples)

    ours = Classifier(margs, 2)
    init_weights(ours)
    names = ["ours"]
    contenders = [(ours, ours_forward(ours))]
    if not args.skip_hf:
        hf = hf_model(config, len(vocab), 2)
        names.append("HF BertForSequenceClassification")
        contenders.append((hf, hf_forward(hf)))
    for name, model, forward in variant_contenders(args, ours):
        names.append(name)
        contenders.append((model, forward))

    print(f"book_review: {len(examples)} examples tokenized in {tokenize_s:.1f} s, mean length "
          f"{mean_len:.1f} tokens; seq_length {args.seq_length}, train batch {args.batch_size} "
          f"({args.train_batches} timed steps), inference batch {args.infer_batch_size} "
          f"({len(infer_set)} examples); torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, load average {os.getloadavg()[0]:.2f}; linears on {linear_backend()}", flush=True)
    print(f"{'model (padding)':52s} {'train ex/s':>11s} {'infer ex/s':>11s}")
    for padding, train, infer in (("longest in batch", train_batches, infer_dynamic),
                                  ("seq_length", train_fixed, infer_fixed)):
        train_rates, warmup = time_training(contenders, train)
        infer_rates = time_inference(contenders, infer)
        for name, train_rate, infer_rate, start in zip(names, train_rates, infer_rates, warmup):
            print(f"{name + ' (' + padding + ')':52s} {train_rate:11.1f} {infer_rate:11.1f}"
                  + (f"   first 2 steps {start:.1f} s" if args.compile or args.bf16 else ""),
                  flush=True)
    print(f"{'UER-py 2020 (issue figures; seq_length, 2 threads)':52s} {26.0:11.1f} {60.0:11.1f}")
    task_rows(args, config, vocab, margs)


if __name__ == "__main__":
    main()
