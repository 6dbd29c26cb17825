"""Training logs people can watch (uer.logging_sinks): --log_path, --tensorboard_dir, the
pre-training progress bar."""
import io
import sys

import pytest

import preprocess
import pretrain
import run_classifier
from tests.conftest import REPO
from uer.errors import UerError
from uer.logging_sinks import RunSinks, evaluation_fields, report_fields

VOCAB = str(REPO / "models" / "sample_vocab.txt")
DATA = REPO / "datasets" / "sample_sentiment"
TINY = '{"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu", ' \
       '"heads_num": 2, "layers_num": 2, "dropout": 0.0}'


def event_tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """pretrain.py and run_classifier.py with --log_path and --tensorboard_dir."""
    pytest.importorskip("tensorboard")
    tmp = tmp_path_factory.mktemp("logs")
    config = tmp / "tiny.json"
    config.write_text(TINY, encoding="utf-8")
    dataset = tmp / "dataset.pt"
    preprocess.main(["--corpus_path", str(REPO / "corpora" / "sample_bert.txt"),
                     "--vocab_path", VOCAB, "--dataset_path", str(dataset), "--target", "bert",
                     "--seq_length", "32", "--dup_factor", "1"])
    pretrain_log = tmp / "pretrain.log"
    pretrain_log.write_text("earlier line\n", encoding="utf-8")  # appended to, not replaced
    pretrain.main(["--dataset_path", str(dataset), "--vocab_path", VOCAB,
                   "--config_path", str(config), "--output_model_path", str(tmp / "model.bin"),
                   "--total_steps", "6", "--save_checkpoint_steps", "6", "--report_steps", "2",
                   "--batch_size", "4", "--learning_rate", "1e-3", "--log_path", str(pretrain_log),
                   "--tensorboard_dir", str(tmp / "tb_pretrain")])
    run_classifier.main(["--pretrained_model_path", str(tmp / "model.bin"), "--vocab_path", VOCAB,
                         "--train_path", str(DATA / "train.tsv"), "--dev_path", str(DATA / "dev.tsv"),
                         "--test_path", str(DATA / "test.tsv"),
                         "--output_model_path", str(tmp / "classifier.bin"), "--epochs_num", "2",
                         "--batch_size", "32", "--seq_length", "24", "--report_steps", "5",
                         "--learning_rate", "1e-3", "--log_path", str(tmp / "classifier.log"),
                         "--tensorboard_dir", str(tmp / "tb_classifier")])
    return tmp


def test_pretraining_log_file_has_every_report_line_appended(runs):
    lines = (runs / "pretrain.log").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier line"
    reports = [line for line in lines[1:] if line.startswith("|")]
    # between them only the learning notes (uer.unigram_level) and the end-of-run check
    assert all(line.startswith(("  unigram level: ", "Warning: after 6 steps", "Learning check: "))
               for line in lines[1:] if not line.startswith("|"))
    assert lines[-1].startswith(("Warning: after 6 steps", "Learning check: "))
    assert [line.split("steps|")[0] for line in reports] == [
        f"| {step:8d}/{6:8d} " for step in (2, 4, 6)]
    assert all("| loss_mlm: " in line and "| acc_nsp: " in line for line in reports)


def test_pretraining_event_file_holds_the_expected_tags(runs):
    events = event_tags(runs / "tb_pretrain")
    tags = set(events.Tags()["scalars"])
    assert tags == {"train/loss", "train/loss_mlm", "train/loss_nsp", "train/acc_mlm",
                    "train/acc_nsp", "train/tokens_per_s", "train/learning_rate"}
    assert [event.step for event in events.Scalars("train/loss")] == [2, 4, 6]
    assert all(event.value > 0 for event in events.Scalars("train/tokens_per_s"))
    assert all(0.0 <= event.value <= 1.0 for event in events.Scalars("train/acc_nsp"))


def test_finetuning_log_and_events_hold_reports_and_dev_metrics(runs):
    log = (runs / "classifier.log").read_text(encoding="utf-8")
    assert "Epoch id: 1, Training steps: 10, Avg loss: " in log
    assert log.count("Acc. (Correct/Total): ") == 3  # two dev evaluations, then the test set
    assert "Confusion matrix:" in log  # the detailed test report
    events = event_tags(runs / "tb_classifier")
    tags = set(events.Tags()["scalars"])
    # dev/accuracy: the selection score under the task's metric name; dev/acc: its report line
    assert {"train/loss", "train/learning_rate", "dev/acc", "dev/accuracy", "test/acc"} <= tags
    steps_per_epoch = 13  # 400 examples / 32
    assert [event.step for event in events.Scalars("dev/acc")] == [steps_per_epoch,
                                                                   2 * steps_per_epoch]
    assert [event.step for event in events.Scalars("train/loss")] == [5, 10, 18, 23]


def test_report_line_fields_for_each_target_format():
    bert = ("|      100/   10000 steps|  3000.00 tokens/s| loss    9.20| loss_mlm: 8.600| "
            "loss_nsp: 0.600| acc_mlm: 0.050| acc_nsp: 0.700")
    assert report_fields(bert) == {"tokens_per_s": 3000.0, "loss": 9.2, "loss_mlm": 8.6,
                                   "loss_nsp": 0.6, "acc_mlm": 0.05, "acc_nsp": 0.7}
    bilm = ("|       10/      20 steps|    50.00 tokens/s| loss    4.00| loss_forward 2.000| "
            "loss_backward 2.000| acc_forward: 0.100| acc_backward: 0.200")
    assert report_fields(bilm)["loss_backward"] == 2.0
    assert report_fields(bilm)["acc_backward"] == 0.2
    assert report_fields("|  5/  5 steps|  1.00 tokens/s| loss     nan| acc: 0.000")["acc"] == 0.0


def test_evaluation_fields_of_each_task_report():
    assert evaluation_fields("Acc. (Correct/Total): 0.8500 (85/100) \n") == {"acc": 0.85}
    assert evaluation_fields("Dataset a: Acc. (Correct/Total): 0.5000 (1/2) \n"
                             "Mean Acc.: 0.7500\n") == {"a/acc": 0.5, "mean_acc": 0.75}
    assert evaluation_fields("Report precision, recall, and f1:\n0.500, 0.250, 0.333\n") == {
        "precision": 0.5, "recall": 0.25, "f1": 0.333}
    assert evaluation_fields("Avg: 0.5000,F1:0.6000,EM:0.4000,Total:10,Skip:0") == {
        "avg": 0.5, "f1": 0.6, "em": 0.4}
    assert evaluation_fields("Mean Reciprocal Rank: 0.9000\nMean Average Precision: 0.8000") == {
        "mrr": 0.9, "map": 0.8}


def test_missing_tensorboard_is_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails, find_spec says None
    with pytest.raises(SystemExit) as exit_info:
        pretrain.main(["--dataset_path", str(tmp_path / "none.pt"), "--vocab_path", VOCAB,
                       "--output_model_path", str(tmp_path / "m.bin"),
                       "--tensorboard_dir", str(tmp_path / "tb")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --tensorboard_dir needs the package tensorboard (pip install tensorboard)"]
    with pytest.raises(UerError, match="needs the package tensorboard"):
        RunSinks(type("Args", (), {"tensorboard_dir": str(tmp_path / "tb")})())


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    args = type("Args", (), {})()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    quiet = RunSinks(args, total_steps=10, progress=True)
    assert quiet.bar.disable  # not a tty: CI logs get the report lines only
    quiet.close()
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sinks = RunSinks(args, total_steps=10, progress=True)
    for _ in range(4):
        sinks.advance()
    sinks.pretrain_report(4, "|        4/      10 steps|  1.00 tokens/s| loss    1.25| acc: 0.500",
                          1.25, 1e-4)
    sinks.advance()
    sinks.bar.refresh()
    shown = terminal.getvalue()
    assert "5/10" in shown and "loss=1.250" in shown and "<" in shown  # step, loss, ETA
    sinks.close()
