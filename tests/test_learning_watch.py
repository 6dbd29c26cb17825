"""What pretrain.py says about learning itself: the held-out evaluation of --dev_dataset_path
(report lines, log file, TensorBoard) and the unigram-level notes and end-of-run summary."""
import os
import re

import pytest
import torch

import pretrain
from pretrain_helpers import tiny_dataset, write_config
from uer.targets.bert import BertTarget
from uer.targets.cls import ClsTarget
from uer.targets.lm import LmTarget
from uer.targets.mlm import MlmTarget
from uer.unigram_level import UnigramBaseline, at_unigram_level, token_label_field

DEV_LINE = re.compile(r"^\| dev +(\d+) steps\| (\d+) instances\| loss +\d+\.\d\d\| acc: (\d\.\d{3})$")


def test_unigram_baseline_is_the_share_of_the_most_frequent_gold_token():
    baseline = UnigramBaseline()
    baseline.add(torch.tensor([[0, 7, 7, 0], [7, 9, 0, 0]]))  # 0 = not predicted
    baseline.add(torch.tensor([[5, 0, 0, 0]]))
    share, token = baseline.share()
    assert token == 7 and share == pytest.approx(3 / 5)
    assert at_unigram_level(0.7, share) and not at_unigram_level(0.95, share)
    baseline.reset()
    assert baseline.share() == (None, None)


def test_token_label_field_of_each_target():
    assert token_label_field(MlmTarget) == ("tgt_mlm", "acc")
    assert token_label_field(BertTarget) == ("tgt_mlm", "acc_mlm")
    assert token_label_field(LmTarget) == ("tgt", "acc")
    assert token_label_field(ClsTarget) is None


def run(tmp_path, vocab, dataset, *extra, steps=12):
    output = os.path.join(tmp_path, "model.bin")
    pretrain.main(["--dataset_path", dataset, "--vocab_path", vocab, "--output_model_path", output,
                   "--config_path", write_config(tmp_path), "--target", "mlm",
                   "--total_steps", str(steps), "--report_steps", "4", "--batch_size", "4",
                   "--learning_rate", "1e-3", *extra])
    return output


def test_held_out_lines_in_console_log_and_tensorboard(tmp_path, zh_vocab_path, capsys):
    train = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking", lines=200)
    dev = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking",
                       corpus="CLUECorpusSmall_sampled.txt", lines=30)
    log = tmp_path / "run.log"
    run(tmp_path, zh_vocab_path, train, "--dev_dataset_path", dev, "--dev_steps", "6",
        "--dev_instances", "10", "--log_path", str(log), "--tensorboard_dir", str(tmp_path / "tb"))
    out = capsys.readouterr().out
    dev_lines = [DEV_LINE.match(line) for line in out.splitlines() if line.startswith("| dev")]
    assert [int(found.group(1)) for found in dev_lines] == [6, 12]
    assert all(int(found.group(2)) == 10 for found in dev_lines)
    assert sum(1 for line in log.read_text().splitlines() if line.startswith("| dev")) == 2
    # the model barely trained: every report is flagged and the run ends with the warning
    assert "unigram level: acc" in out
    assert "Warning: after 12 steps the model is still at unigram level (held-out acc" in out
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {"dev/acc", "dev/loss"} <= set(events.Tags()["scalars"])
    assert [event.step for event in events.Scalars("dev/loss")] == [6, 12]


def test_held_out_evaluation_is_the_same_each_time_and_leaves_training_unchanged(
        tmp_path, zh_vocab_path, capsys):
    train = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking", lines=200)
    dev = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking",
                       corpus="CLUECorpusSmall_sampled.txt", lines=30)
    plain = run(tmp_path / "a", zh_vocab_path, train)
    watched = run(tmp_path / "b", zh_vocab_path, train, "--dev_dataset_path", dev,
                  "--dev_steps", "4", "--learning_rate", "1e-3")
    # evaluating in between changes no weight (eval mode, no autograd, train mode restored)
    first, second = torch.load(plain), torch.load(watched)
    assert all(torch.equal(first[key], second[key]) for key in first)
    capsys.readouterr()
    # the same model scored twice on the dev set gives the same line (fixed masks)
    run(tmp_path / "c", zh_vocab_path, train, "--dev_dataset_path", dev, "--dev_steps", "1",
        "--learning_rate", "1e-12", steps=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dev")]
    assert len(lines) == 2 and lines[0].split("steps")[1] == lines[1].split("steps")[1]


def test_dev_dataset_of_another_target_is_refused_before_training(tmp_path, zh_vocab_path, capsys):
    train = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking", lines=200)
    other = tiny_dataset(zh_vocab_path, "bert", lines=60)
    with pytest.raises(SystemExit) as raised:
        run(tmp_path, zh_vocab_path, train, "--dev_dataset_path", other)
    assert raised.value.code == 1
    err = capsys.readouterr().err
    assert f"error: {other} was built for target bert, not mlm" in err
    assert not os.path.exists(tmp_path / "model.bin")
    with pytest.raises(SystemExit):
        run(tmp_path, zh_vocab_path, train, "--dev_dataset_path", str(tmp_path / "missing.pt"))
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(tmp_path, zh_vocab_path, train, "--dev_steps", "0")
    assert "--dev_steps" in capsys.readouterr().err


def test_a_model_above_the_unigram_guess_gets_the_learning_check_line(tmp_path):
    """The end-of-run line compares with the unigram guess; a model far above it is not
    warned about."""
    from uer.learning_watch import LearningWatch

    class Sinks:
        lines = []

        def write_line(self, line):
            self.lines.append(line)

    args = pretrain.build_parser().parse_args(["--output_model_path", str(tmp_path / "m.bin")])
    args.target, args.vocab = "mlm", None
    watch = LearningWatch(args, True, False, None)
    labels = torch.tensor([[0, 9, 9, 8, 7, 6]])
    watch.saw((labels, labels, torch.ones_like(labels)))
    sinks = Sinks()
    watch.reported({"acc": 0.95}, sinks)
    watch.summary(100, sinks)
    assert sinks.lines == ["Learning check: training acc 0.950 after 100 steps, 2.4x the "
                           "unigram guess (0.400)."]


def test_the_sidecar_records_the_learning_check_and_fine_tuning_warns(tmp_path, zh_vocab_path,
                                                                      capsys):
    """A model that ended at unigram level says so in its sidecar; run_classifier.py warns
    when it fine-tunes from it (and says nothing for a model without that record)."""
    import json

    import run_classifier
    from tests.conftest import REPO
    from uer.sidecar import read_sidecar

    train = tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking", lines=200)
    model = run(tmp_path, zh_vocab_path, train, steps=4)
    check = read_sidecar(model)["learning_check"]
    assert check["steps"] == 4 and check["measured_on"] == "training"
    assert check["unigram_level"] is True and 0 < check["unigram_guess"] < 1
    capsys.readouterr()
    data = REPO / "datasets" / "sample_sentiment"
    finetune = ["--pretrained_model_path", model, "--vocab_path", zh_vocab_path,
                "--train_path", str(data / "train.tsv"), "--dev_path", str(data / "dev.tsv"),
                "--output_model_path", str(tmp_path / "c.bin"), "--epochs_num", "1",
                "--batch_size", "32", "--seq_length", "16"]
    run_classifier.main(finetune)
    assert f"Warning: {model} ended pre-training at unigram level" in capsys.readouterr().err
    sidecar = tmp_path / "model.bin.json"
    info = json.loads(sidecar.read_text(encoding="utf-8"))
    del info["learning_check"]
    sidecar.write_text(json.dumps(info), encoding="utf-8")
    run_classifier.main(finetune)
    assert "unigram level" not in capsys.readouterr().err
