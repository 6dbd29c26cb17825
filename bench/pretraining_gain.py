"""Does pre-training help? (Superseded by bench/scorecard.py, which runs the recipe that leaves
the unigram plateau and scores every task; kept for the earlier RESULTS.md rows.) bert_tiny
pre-trained from scratch by pretrain.py on
CLUECorpusSmall_bert_sampled.txt, then fine-tuned 1 epoch on book_review, against the same
model fine-tuned from random initialisation. Prints the commands and both dev/test accuracies.

Example (the defaults: 500 steps at lr 1e-3 with --tie_weights, fine-tuned with mean pooling,
the best configuration found, see bench/RESULTS.md "Does pre-training help?"; about 12 minutes
of pre-training and 2 x 10 minutes of fine-tuning on one CPU core):
    python3 bench/pretraining_gain.py
The earlier bench/RESULTS.md run:
    python3 bench/pretraining_gain.py --total_steps 400 --learning_rate 5e-4 --no-tie_weights \
        --pooling first

After pre-training it also prints how the pre-trained LM predicts masked characters of
book_review dev: at [MASK] positions (needs context) and at selected-but-unchanged positions
(copying the visible input is enough). A [MASK] accuracy near 0.05 means the model is still on
the unigram plateau (it guesses frequent characters): then it has nothing to transfer.
Flags for the levers tried (bench/RESULTS.md): --tie_weights, --pretrain_dropout,
--dup_factor, --pooling, --finetune_learning_rate.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")


def run(command):
    print("$ " + " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    print(f"  ({time.time() - start:.0f} s)", flush=True)
    return result.stdout


def accuracies(output):
    found = re.findall(r"Acc\. \(Correct/Total\): ([0-9.]+)", output)
    return float(found[0]), float(found[-1])  # dev after epoch 1, test of the best model


def masked_lm_check(model_path, vocab_path, rows=640, seq_length=128):
    """(accuracy at [MASK] positions, accuracy at unchanged selected positions) of the
    pre-trained model on the first ``rows`` reviews of book_review dev, masked as in
    preprocessing (fixed seed)."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    import torch.nn.functional as F

    from uer.checkpoint import load_model
    from uer.data.masking import mask_batch
    from uer.model import build_model, model_args
    from uer.tokenizers import str2tokenizer

    tokenizer = str2tokenizer["bert"](argparse.Namespace(vocab_path=vocab_path, spm_model_path=None))
    vocab = tokenizer.vocab_obj
    model = build_model(model_args(os.path.join(ROOT, "models", "bert_tiny_config.json"), vocab))
    load_model(model, model_path, verbose=False)
    model.eval()
    with open(os.path.join(SHARED, "datasets", "book_review", "dev.tsv"), encoding="utf-8") as handle:
        texts = [line.rstrip("\n").split("\t", 1)[1] for line in handle][1:rows + 1]
    ids = [[vocab.cls_id, *tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))[:seq_length - 2],
            vocab.sep_id] for text in texts]
    src = np.array([row + [0] * (seq_length - len(row)) for row in ids])
    masked, tgt = mask_batch(src, np.random.default_rng(0), len(vocab), vocab.cls_id, vocab.sep_id,
                             vocab.mask_id)
    hits = {"mask": [0, 0], "copy": [0, 0]}
    target = model.target
    with torch.inference_mode():
        for start in range(0, len(src), 64):
            shown = torch.from_numpy(masked[start:start + 64])
            gold = torch.from_numpy(tgt[start:start + 64])
            seg = (torch.from_numpy(src[start:start + 64]) > 0).long()
            hidden = model.encoder(model.embedding(shown, seg), seg)[gold > 0]
            hidden = target.layer_norm(F.gelu(target.mlm_linear_1(hidden)))
            right = target.mlm_linear_2(hidden).argmax(-1) == gold[gold > 0]
            for kind, where in (("mask", shown[gold > 0] == vocab.mask_id),
                                ("copy", shown[gold > 0] == gold[gold > 0])):
                hits[kind][0] += int(right[where].sum())
                hits[kind][1] += int(where.sum())
    return tuple(correct / max(1, total) for correct, total in (hits["mask"], hits["copy"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int, default=500)
    parser.add_argument("--seq_length", type=int, default=64, help="Pre-training sequence length.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--dup_factor", type=int, default=2)
    parser.add_argument("--tie_weights", action=argparse.BooleanOptionalAction, default=True,
                        help="Pre-train with the MLM output layer tied to the word embedding.")
    parser.add_argument("--pretrain_dropout", type=float, default=None,
                        help="Dropout while pre-training (default: the config's).")
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-4)
    parser.add_argument("--pooling", default="mean",
                        help="Fine-tuning pooling (both inits); with 'first' the collapsed [CLS] "
                             "vector of a barely pre-trained model loses to random init.")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="uer-gain-")
    vocab = os.path.join(SHARED, "vocab", "google_zh_vocab.txt")
    book = os.path.join(SHARED, "datasets", "book_review")
    dataset = os.path.join(workdir, "dataset.pt")
    model = os.path.join(workdir, "bert_tiny.bin")
    run(["preprocess.py", "--corpus_path", os.path.join(SHARED, "corpora", "CLUECorpusSmall_bert_sampled.txt"),
         "--vocab_path", vocab, "--dataset_path", dataset, "--target", "bert",
         "--seq_length", str(args.seq_length), "--dup_factor", str(args.dup_factor), "--processes_num", "2"])
    output = run(["pretrain.py", "--dataset_path", dataset, "--vocab_path", vocab,
         "--config_path", "models/bert_tiny_config.json", "--output_model_path", model,
         "--total_steps", str(args.total_steps), "--save_checkpoint_steps", str(args.total_steps),
         "--report_steps", "50", "--batch_size", str(args.batch_size),
         "--learning_rate", str(args.learning_rate), "--target", "bert",
         *(["--tie_weights"] if args.tie_weights else []),
         *(["--dropout", str(args.pretrain_dropout)] if args.pretrain_dropout is not None else [])])
    reports = [line for line in output.splitlines() if line.startswith("|")]
    print("  last report: " + (reports[-1] if reports else "none"), flush=True)
    at_mask, at_copy = masked_lm_check(model, vocab)
    print(f"  pre-trained LM on book_review dev: accuracy {at_mask:.3f} at [MASK] positions, "
          f"{at_copy:.3f} at unchanged ones", flush=True)
    results = {}
    for name, init in (("pre-trained", ["--pretrained_model_path", model]), ("random init", [])):
        output = run(["run_classifier.py", *init, "--vocab_path", vocab,
                      "--config_path", "models/bert_tiny_config.json",
                      "--train_path", os.path.join(book, "train.tsv"), "--dev_path", os.path.join(book, "dev.tsv"),
                      "--test_path", os.path.join(book, "test.tsv"),
                      "--output_model_path", os.path.join(workdir, f"classifier-{name[:3]}.bin"),
                      "--epochs_num", "1", "--batch_size", "32", "--seq_length", "128",
                      "--learning_rate", str(args.finetune_learning_rate),
                      "--pooling", args.pooling])
        results[name] = accuracies(output)
    print("| bert_tiny on book_review, 1 epoch | dev acc | test acc |")
    print("|---|---:|---:|")
    for name, (dev, test) in results.items():
        print(f"| {name} | {dev:.4f} | {test:.4f} |")


if __name__ == "__main__":
    main()
