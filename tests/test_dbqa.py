"""run_dbqa.py: qid grouping, accuracy, MRR and MAP."""
import random

import pytest
import torch

from _finetune_data import FILLER, write_config, write_tsv

import run_dbqa
from uer.finetune.batching import Example
from uer.finetune.tasks.dbqa import DbqaTask


def test_metrics_group_by_qid_value_not_adjacency(capsys):
    # q7: scores 0.9 (wrong), 0.5 (right) -> RR 1/2, AP 1/2. q3: tie 0.2/0.2 with the right one
    # -> ranked second: RR 1/2, AP 1/2. q9 has no right answer: skipped. Rows interleave.
    rows = [("q7", 0, 0.9), ("q3", 1, 0.2), ("q7", 1, 0.5), ("q9", 0, 0.4), ("q3", 0, 0.2),
            ("q5", 1, 0.8), ("q5", 1, 0.1), ("q5", 0, 0.3)]
    examples = [Example([2, 3], 2, label, extra=(qid,)) for qid, label, _ in rows]
    logits = [[0.0, score] for _, _, score in rows]
    mrr = DbqaTask().score(examples, list(torch.tensor(logits)))
    # q5: ranked 0.8 (1), 0.3 (0), 0.1 (1) -> RR 1, AP (1 + 2/3) / 2.
    assert mrr == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    out = capsys.readouterr().out
    assert f"Mean Reciprocal Rank: {(0.5 + 0.5 + 1.0) / 3:.4f}" in out
    assert f"Mean Average Precision: {(0.5 + 0.5 + (1 + 2 / 3) / 2) / 3:.4f}" in out
    assert "1 questions without a correct answer skipped" in out
    assert "Acc. (Correct/Total): 0.5000 (4/8) " in out  # class 1 predicted where score > 0


def dbqa_rows(questions, seed):
    """Each question has 4 candidates; the right one contains the cue 好, the others 差."""
    rng = random.Random(seed)
    rows = []
    for qid in range(questions):
        question = "".join(rng.choice(FILLER) for _ in range(6))
        right = rng.randrange(4)
        for cand in range(4):
            text = "".join(rng.choice(FILLER) for _ in range(6))
            cue = "好好" if cand == right else "差差"
            rows.append((qid, question, text[:3] + cue + text[3:], int(cand == right)))
    rng.shuffle(rows)  # rows of a question are not adjacent
    return rows


def test_run_dbqa_trains_and_reports(tmp_path, zh_vocab_path, capsys):
    header = ["qid", "text_a", "text_b", "label"]
    train = write_tsv(tmp_path / "train.tsv", header, dbqa_rows(60, 1))
    dev = write_tsv(tmp_path / "dev.tsv", header, dbqa_rows(20, 2))
    run_dbqa.main(["--train_path", train, "--dev_path", dev, "--test_path", dev,
                   "--vocab_path", zh_vocab_path, "--config_path", write_config(tmp_path / "c.json"),
                   "--output_model_path", str(tmp_path / "dbqa.bin"), "--batch_size", "16",
                   "--seq_length", "24", "--learning_rate", "3e-3", "--epochs_num", "4"])
    out = capsys.readouterr().out
    assert "Test set evaluation." in out
    final_mrr = float(out.rsplit("Mean Reciprocal Rank: ", 1)[1].split()[0])
    assert final_mrr > 0.6  # chance is about (1 + 1/2 + 1/3 + 1/4) / 4 = 0.52
    state = torch.load(tmp_path / "dbqa.bin", weights_only=True)
    assert state["output_layer_2.weight"].shape == (2, 32)
