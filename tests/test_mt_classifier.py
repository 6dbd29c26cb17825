"""run_mt_classifier.py: shared encoder, one head per task, single-task batches."""
import numpy as np
import pytest
import torch

from _finetune_data import easy_rows, write_config, write_tsv

import run_mt_classifier
from uer.errors import UerError
from uer.finetune.batching import Example
from uer.finetune.tasks.mt_classifier import MultiTaskClassificationTask


def test_batches_hold_one_task_and_interleave():
    examples = [Example([2, 3], 2, 0, extra=i % 3) for i in range(90)]
    task = MultiTaskClassificationTask(["a", "b", "c"], [2, 2, 2])
    batches = task.train_batches(examples, 8, np.random.default_rng(0))
    assert sum(len(b) for b in batches) == 90
    assert all(len({ex.extra for ex in b}) == 1 for b in batches)
    order = [b[0].extra for b in batches]
    assert order != sorted(order)  # tasks are interleaved, not one after the other
    assert task.collate(batches[0])["task"] == batches[0][0].extra


def test_two_tasks_share_encoder(tmp_path, zh_vocab_path, capsys):
    dirs = []
    for name, seed, swap in (("alpha", 1, False), ("beta", 5, True)):
        folder = tmp_path / name
        folder.mkdir()
        rows = easy_rows(200, seed)
        if swap:  # task beta has labels 0..3 in training
            rows = [(label + (2 if i % 5 == 0 else 0), text) for i, (label, text) in enumerate(rows)]
        write_tsv(folder / "train.tsv", ["label", "text_a"], rows[:160])
        write_tsv(folder / "dev.tsv", ["label", "text_a"], [(min(l, 1), t) for l, t in rows[160:]])
        dirs.append(str(folder))
    out_path = tmp_path / "mt.bin"
    run_mt_classifier.main(["--dataset_path_list", *dirs, "--vocab_path", zh_vocab_path,
                            "--config_path", write_config(tmp_path / "c.json"),
                            "--output_model_path", str(out_path), "--batch_size", "16",
                            "--seq_length", "24", "--learning_rate", "3e-3", "--epochs_num", "3"])
    out = capsys.readouterr().out
    assert out.count("Dataset alpha: Acc. (Correct/Total): ") == 3
    assert out.count("Dataset beta: Acc. (Correct/Total): ") == 3
    best = max(float(line.split()[-1]) for line in out.splitlines() if line.startswith("Mean Acc."))
    assert best > 0.7
    state = torch.load(out_path, weights_only=True)
    assert state["output_layers_2.0.weight"].shape == (2, 32)
    assert state["output_layers_2.1.weight"].shape == (4, 32)  # labels 0..3 -> max + 1
    assert "output_layers_1.1.bias" in state and "encoder.transformer.0.self_attn.final_linear.bias" in state


def test_missing_folder_is_an_error(tmp_path, zh_vocab_path):
    with pytest.raises(UerError, match="is not a folder"):
        run_mt_classifier.main.__wrapped__(["--dataset_path_list", str(tmp_path / "none"),
                                            "--vocab_path", zh_vocab_path, "--config_path",
                                            write_config(tmp_path / "c.json")])
