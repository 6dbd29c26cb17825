"""Does pre-training help? bert_tiny pre-trained from scratch by pretrain.py on
CLUECorpusSmall_bert_sampled.txt, then fine-tuned 1 epoch on book_review, against the same
model fine-tuned from random initialisation. Prints the commands and both dev/test accuracies.

Example:
    python3 bench/pretraining_gain.py --total_steps 400 --seq_length 64
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int, default=400)
    parser.add_argument("--seq_length", type=int, default=64, help="Pre-training sequence length.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-4)
    parser.add_argument("--dup_factor", type=int, default=2)
    parser.add_argument("--tie_weights", action=argparse.BooleanOptionalAction, default=False,
                        help="Pre-train with the MLM output layer tied to the word embedding.")
    parser.add_argument("--pretrain_dropout", type=float, default=None,
                        help="Dropout while pre-training (default: the config's).")
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-4)
    parser.add_argument("--pooling", default="first", help="Fine-tuning pooling (both inits).")
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
