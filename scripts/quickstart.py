"""The whole main job on the sample data the repository ships (what `make quickstart` runs):
vocabulary -> preprocess -> pre-train -> fine-tune -> predict, each step a subprocess running the
same command as the README's quickstart, into one output folder.

    python3 scripts/quickstart.py [--output_dir build/quickstart] [--total_steps 200]

Prints where each output went and, at the end, the fine-tuned classifier's test accuracy."""
import argparse
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "models/bert_tiny_config.json"
DATA = "datasets/sample_sentiment"
ACCURACY = re.compile(r"Acc\. \(Correct/Total\): ([0-9.]+) \((\d+)/(\d+)\)")


def build_steps(out, total_steps, epochs):
    """(title, script and options, outputs) of each step, in order."""
    def path(name):
        return os.path.join(out, name)

    vocab, dataset, model = path("vocab.txt"), path("dataset.pt"), path("model.bin")
    classifier, prediction = path("classifier_model.bin"), path("prediction.tsv")
    checkpoint_steps = max(1, total_steps // 2)
    return [
        ("vocabulary", ["scripts/build_vocab.py", "--corpus_path", "corpora/sample_bert.txt",
                        f"{DATA}/train.tsv", "--vocab_path", vocab, "--tokenizer", "bert",
                        "--workers_num", "2"], [vocab]),
        ("preprocess", ["preprocess.py", "--corpus_path", "corpora/sample_bert.txt",
                        "--vocab_path", vocab, "--dataset_path", dataset, "--target", "bert",
                        "--seq_length", "64", "--processes_num", "2"], [dataset]),
        ("pre-train", ["pretrain.py", "--dataset_path", dataset, "--vocab_path", vocab,
                       "--config_path", CONFIG, "--output_model_path", model,
                       "--total_steps", str(total_steps),
                       "--save_checkpoint_steps", str(checkpoint_steps),
                       "--report_steps", str(max(1, total_steps // 10)), "--batch_size", "16",
                       "--learning_rate", "1e-4", "--log_path", path("pretrain.log")],
         [model, model + ".json", path("pretrain.log")]),
        ("fine-tune", ["run_classifier.py", "--pretrained_model_path", model,
                       "--vocab_path", vocab, "--config_path", CONFIG,
                       "--train_path", f"{DATA}/train.tsv", "--dev_path", f"{DATA}/dev.tsv",
                       "--test_path", f"{DATA}/test.tsv", "--output_model_path", classifier,
                       "--epochs_num", str(epochs), "--batch_size", "32", "--seq_length", "64",
                       "--learning_rate", "1e-4", "--log_path", path("classifier.log")],
         [classifier, classifier + ".json", path("classifier.log")]),
        # No --config_path/--labels_num/--seq_length: they come from classifier_model.bin.json.
        ("predict", ["inference/run_classifier_infer.py", "--load_model_path", classifier,
                     "--vocab_path", vocab, "--test_path", f"{DATA}/test_nolabel.tsv",
                     "--prediction_path", prediction, "--output_logits", "--output_prob"],
         [prediction]),
    ]


def run_step(title, command, log):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True)
    log.write(f"$ python3 {' '.join(command)}\n{result.stdout}{result.stderr}\n")
    log.flush()
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        print(f"error: step '{title}' failed (python3 {' '.join(command)}):", file=sys.stderr)
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(1)
    return result.stdout, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="build/quickstart",
                        help="Folder for every output (relative to the repository root).")
    parser.add_argument("--total_steps", type=int, default=200, help="Pre-training steps.")
    parser.add_argument("--epochs_num", type=int, default=3, help="Fine-tuning epochs.")
    args = parser.parse_args(argv)
    out = os.path.join(REPO, args.output_dir)
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    test_output = ""
    with open(os.path.join(out, "quickstart.log"), "w", encoding="utf-8") as log:
        for number, (title, command, outputs) in enumerate(
                build_steps(out, args.total_steps, args.epochs_num), 1):
            print(f"[{number}/5] {title}: python3 {command[0]}", flush=True)
            stdout, seconds = run_step(title, command, log)
            for output in outputs:
                print(f"      -> {os.path.relpath(output, REPO)}", flush=True)
            print(f"      ({seconds:.1f} s)", flush=True)
            if title == "fine-tune":
                test_output = stdout.split("Test set evaluation.")[-1]
    print(f"All steps took {time.perf_counter() - started:.1f} s; every command and its output: "
          f"{os.path.relpath(os.path.join(out, 'quickstart.log'), REPO)}")
    found = ACCURACY.search(test_output)
    if found:
        print(f"Test accuracy: {float(found.group(1)):.4f} ({found.group(2)}/{found.group(3)})")
    else:
        print("error: the fine-tuning output has no test accuracy line", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
