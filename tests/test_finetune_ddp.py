"""Fine-tuning under DDP: two gloo CPU processes started by torchrun, each with batch B, train
the weights one process trains with batch 2B, print its numbers, and save the model whose dev
accuracy they print."""
import os
import re
import subprocess
import sys

import pytest
import torch

from _finetune_data import easy_rows, write_config, write_tsv
from tests.conftest import REPO

import run_classifier
from uer.errors import UerError


def classifier_argv(tmp_path, vocab_path, model, batch_size):
    return ["run_classifier.py",
            "--train_path", write_tsv(tmp_path / "train.tsv", ["label", "text_a"], easy_rows(40, seed=1)),
            "--dev_path", write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], easy_rows(24, seed=2)),
            "--vocab_path", vocab_path, "--config_path", write_config(tmp_path / "tiny.json"),
            "--output_model_path", str(model), "--batch_size", str(batch_size),
            "--seq_length", "24", "--learning_rate", "3e-3", "--epochs_num", "2",
            "--report_steps", "2", "--dropout", "0", "--backend", "gloo"]


def run(command, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(env, **(env_extra or {})))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def numbers(log):
    """The printed training losses and dev accuracies, in order."""
    return (re.findall(r"Epoch id: \d+, Training steps: \d+, Avg loss: [0-9.]+", log),
            re.findall(r"Acc\. \(Correct/Total\): ([0-9.]+)", log))


def test_two_processes_with_batch_b_train_like_one_with_2b(tmp_path, zh_vocab_path):
    one = run([sys.executable, *classifier_argv(tmp_path, zh_vocab_path, tmp_path / "one.bin", 8)])
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2",
               *classifier_argv(tmp_path, zh_vocab_path, tmp_path / "two.bin", 4)])
    assert "Worker 1 of 2 is fine-tuning on cpu" in two
    assert "Processes: 2 (global batch size 8)" in two
    losses_one, accs_one = numbers(one)
    losses_two, accs_two = numbers(two)
    # Printed once, the same numbers: equal up to the last printed digit (the two runs sum the
    # gradients in a different order, so a value on a rounding boundary may print one apart).
    assert len(losses_one) == 4 and len(losses_two) == 4
    for line_one, line_two in zip(losses_one, losses_two):
        head_one, value_one = line_one.rsplit(" ", 1)
        head_two, value_two = line_two.rsplit(" ", 1)
        assert head_one == head_two and abs(float(value_one) - float(value_two)) <= 1.5e-3
    assert len(accs_one) == 2 and accs_two == accs_one

    a = torch.load(tmp_path / "one.bin", weights_only=True)
    b = torch.load(tmp_path / "two.bin", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key

    # The saved model is the one whose dev accuracy was printed (the best epoch).
    import contextlib
    import io

    sys.path.insert(0, str(REPO / "inference"))
    import run_classifier_infer

    predictions = tmp_path / "pred.tsv"
    with contextlib.redirect_stdout(io.StringIO()):
        run_classifier_infer.main([
            "--load_model_path", str(tmp_path / "two.bin"), "--vocab_path", zh_vocab_path,
            "--config_path", str(tmp_path / "tiny.json"), "--test_path", str(tmp_path / "dev.tsv"),
            "--prediction_path", str(predictions), "--labels_num", "2", "--seq_length", "24"])
    labels = [row.split("\t")[0] for row in (tmp_path / "dev.tsv").read_text().splitlines()[1:]]
    predicted = [row.split("\t")[0] for row in predictions.read_text().splitlines()[1:]]
    accuracy = sum(p == t for p, t in zip(predicted, labels)) / len(labels)
    assert f"{accuracy:.4f}" == max(accs_two)


def test_device_options_are_checked_before_any_file_is_read(tmp_path):
    missing = str(tmp_path / "missing.tsv")
    base = ["--train_path", missing, "--dev_path", missing, "--vocab_path", missing]
    with pytest.raises(UerError, match="torchrun --nproc_per_node 2"):
        run_classifier.parse_args(base + ["--world_size", "2", "--gpu_ranks", "0", "1"])
    with pytest.raises(UerError, match="--world_size 2 needs --gpu_ranks"):
        run_classifier.parse_args(base + ["--world_size", "2"])
