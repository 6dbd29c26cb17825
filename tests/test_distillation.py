"""Distillation end to end: teacher -> logits on a transfer set -> join -> soft-target student."""
import sys

import pytest
import torch

from _finetune_data import easy_rows, write_config, write_tsv
from tests.conftest import REPO

import run_classifier
from uer.errors import UerError

sys.path.insert(0, str(REPO / "inference"))
sys.path.insert(0, str(REPO / "scripts"))
import join_logits  # noqa: E402
import run_classifier_infer  # noqa: E402


def test_teacher_to_student(tmp_path, zh_vocab_path, capsys):
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], easy_rows(240, 1))
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], easy_rows(80, 2))
    transfer = write_tsv(tmp_path / "transfer.tsv", ["text_a"], [(t,) for _, t in easy_rows(240, 3)])
    common = ["--vocab_path", zh_vocab_path, "--seq_length", "24"]
    teacher_config = write_config(tmp_path / "teacher.json")
    run_classifier.main(["--train_path", train, "--dev_path", dev, "--config_path", teacher_config,
                         "--output_model_path", str(tmp_path / "teacher.bin"), "--batch_size",
                         "16", "--learning_rate", "3e-3", "--epochs_num", "3", *common])
    run_classifier_infer.main(["--load_model_path", str(tmp_path / "teacher.bin"),
                               "--config_path", teacher_config, "--test_path", transfer,
                               "--prediction_path", str(tmp_path / "teacher.tsv"),
                               "--labels_num", "2", "--output_logits", *common])
    joined = tmp_path / "student_train.tsv"
    join_logits.main(["--input_path", transfer, "--logits_path", str(tmp_path / "teacher.tsv"),
                      "--output_path", str(joined)])
    lines = joined.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "label\ttext_a\tlogits" and len(lines) == 241
    label, text, logits = lines[1].split("\t")
    logits = [float(x) for x in logits.split()]
    assert len(logits) == 2 and int(label) == logits.index(max(logits))  # the teacher's label
    capsys.readouterr()
    student_config = write_config(tmp_path / "student.json", layers_num=1, feedforward_size=32)
    run_classifier.main(["--train_path", str(joined), "--dev_path", dev, "--config_path",
                         student_config, "--output_model_path", str(tmp_path / "student.bin"),
                         "--batch_size", "16", "--learning_rate", "3e-3", "--epochs_num", "3",
                         "--soft_targets", "--soft_alpha", "0.5", *common])
    out = capsys.readouterr().out
    best = max(float(line.split()[2]) for line in out.splitlines() if line.startswith("Acc."))
    assert best > 0.8
    state = torch.load(tmp_path / "student.bin", weights_only=True)
    assert "encoder.transformer.0.feed_forward.linear_1.weight" in state
    assert "encoder.transformer.1.feed_forward.linear_1.weight" not in state


def test_join_checks_row_counts(tmp_path):
    source = write_tsv(tmp_path / "s.tsv", ["text_a", "label"], [("a", 0), ("b", 1)])
    preds = write_tsv(tmp_path / "p.tsv", ["label", "logits"], [(1, "0.1 0.9")])
    with pytest.raises(UerError, match="1 predictions for 2 rows"):
        join_logits.join(source, preds, str(tmp_path / "o.tsv"))
    preds = write_tsv(tmp_path / "p.tsv", ["label", "logits"], [(1, "0.1 0.9"), (0, "2.0 -1.5")])
    join_logits.join(source, preds, str(tmp_path / "o.tsv"))
    # The transfer set's own labels win unless --teacher_labels.
    assert (tmp_path / "o.tsv").read_text(encoding="utf-8").splitlines()[1:] == [
        "0\ta\t0.1 0.9", "1\tb\t2.0 -1.5"]
