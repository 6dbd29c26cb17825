"""The README quickstart, on the data the repository ships, with fewer steps."""
import csv
import subprocess
import sys

from tests.conftest import REPO


def run(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def test_quickstart_runs_end_to_end(tmp_path):
    vocab = tmp_path / "vocab.txt"
    dataset = tmp_path / "dataset.pt"
    model = tmp_path / "model.bin"
    classifier = tmp_path / "classifier.bin"
    prediction = tmp_path / "prediction.tsv"
    run("scripts/build_vocab.py", "--corpus_path", "corpora/sample_bert.txt",
        "datasets/sample_sentiment/train.tsv", "--vocab_path", str(vocab), "--tokenizer", "bert",
        "--workers_num", "2")
    assert vocab.read_text(encoding="utf-8") == (REPO / "models" / "sample_vocab.txt").read_text(encoding="utf-8")
    run("preprocess.py", "--corpus_path", "corpora/sample_bert.txt", "--vocab_path", str(vocab),
        "--dataset_path", str(dataset), "--target", "bert", "--seq_length", "64", "--processes_num", "2")
    result = run("pretrain.py", "--dataset_path", str(dataset), "--vocab_path", str(vocab),
                 "--config_path", "models/bert_tiny_config.json", "--output_model_path", str(model),
                 "--total_steps", "20", "--save_checkpoint_steps", "10", "--report_steps", "10",
                 "--batch_size", "8", "--learning_rate", "1e-4")
    assert "|       20/      20 steps|" in result.stdout
    assert model.exists() and (tmp_path / "model.bin-10").exists()
    result = run("run_classifier.py", "--pretrained_model_path", str(model), "--vocab_path", str(vocab),
                 "--config_path", "models/bert_tiny_config.json",
                 "--train_path", "datasets/sample_sentiment/train.tsv",
                 "--dev_path", "datasets/sample_sentiment/dev.tsv",
                 "--test_path", "datasets/sample_sentiment/test.tsv",
                 "--output_model_path", str(classifier), "--epochs_num", "2", "--batch_size", "32",
                 "--seq_length", "64", "--learning_rate", "1e-4")
    assert "Acc. (Correct/Total)" in result.stdout and classifier.exists()
    run("inference/run_classifier_infer.py", "--load_model_path", str(classifier), "--vocab_path", str(vocab),
        "--config_path", "models/bert_tiny_config.json",
        "--test_path", "datasets/sample_sentiment/test_nolabel.tsv", "--prediction_path", str(prediction),
        "--labels_num", "2", "--seq_length", "64", "--output_logits", "--output_prob")
    with open(prediction, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["label", "logits", "prob"]
    assert len(rows) == 101 and all(row[0] in ("0", "1") for row in rows[1:])
    probs = [float(p) for p in rows[1][2].split(" ")]
    assert abs(sum(probs) - 1.0) < 1e-4
