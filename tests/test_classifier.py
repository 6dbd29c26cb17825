"""run_classifier.py and inference/run_classifier_infer.py on a tiny model."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from _finetune_data import easy_rows, write_config, write_tsv
from tests.conftest import REPO

import run_classifier
from uer.errors import UerError
from uer.finetune.heads import Classifier
from uer.finetune.tasks.classifier import ClassificationTask
from uer.model import build_model, model_args
from uer.vocab import Vocab

sys.path.insert(0, str(REPO / "inference"))
import run_classifier_infer  # noqa: E402


def train_argv(data, vocab_path, **extra):
    argv = ["--train_path", data["train"], "--dev_path", data["dev"],
            "--vocab_path", vocab_path, "--config_path", data["config"],
            "--output_model_path", data["model"], "--batch_size", "16", "--seq_length", "32",
            "--learning_rate", "3e-3", "--epochs_num", "4", "--report_steps", "10"]
    for key, value in extra.items():
        argv += [f"--{key}"] + ([] if value is True else [str(value)])
    return argv


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    vocab_path = os.path.join(REPO.parent, "shared", "data", "vocab", "google_zh_vocab.txt")
    if not os.path.exists(vocab_path):
        pytest.skip("shared vocabulary not available")
    tmp = tmp_path_factory.mktemp("classifier")
    data = {
        "train": write_tsv(tmp / "train.tsv", ["label", "text_a"], easy_rows(320, seed=1)),
        "dev": write_tsv(tmp / "dev.tsv", ["text_a", "label"],
                         [(t, l) for l, t in easy_rows(80, seed=2)]),
        "test_nolabel": write_tsv(tmp / "test_nolabel.tsv", ["text_a"],
                                  [(t,) for _, t in easy_rows(30, seed=3)]),
        "config": write_config(tmp / "tiny.json"),
        "model": str(tmp / "classifier.bin"),
        "dir": tmp, "vocab": vocab_path,
    }
    torch.set_num_threads(1)
    return data


@pytest.fixture(scope="module")
def trained_log(trained):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_classifier.main(train_argv(trained, trained["vocab"], test_path=trained["dev"]))
    return out.getvalue()


def test_training_learns_easy_task_and_saves_uer_keys(trained, trained_log):
    log = trained_log
    assert "Batch size:  16\nThe number of training instances: 320\nStart training." in log
    assert "Epoch id: 1, Training steps: 10, Avg loss: " in log
    assert "Test set evaluation.\nConfusion matrix:" in log
    final = log.rsplit("Acc. (Correct/Total): ", 1)[1]
    assert float(final.split()[0]) > 0.8, log  # cue characters make this easy
    state = torch.load(trained["model"], map_location="cpu", weights_only=True)
    assert state["output_layer_1.weight"].shape == (32, 32)
    assert state["output_layer_2.weight"].shape == (2, 32)
    assert "embedding.segment_embedding.weight" in state
    assert "encoder.transformer.1.layer_norm_2.gamma" in state
    assert not any(key.startswith(("module.", "target.")) for key in state)


def test_inference_writes_label_logits_prob(trained, trained_log, capsys):
    out_path = trained["dir"] / "pred.tsv"
    run_classifier_infer.main(["--load_model_path", trained["model"], "--vocab_path",
                               trained["vocab"], "--config_path", trained["config"],
                               "--test_path", trained["test_nolabel"], "--prediction_path",
                               str(out_path), "--labels_num", "2", "--seq_length", "32",
                               "--output_logits", "--output_prob"])
    lines = out_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "label\tlogits\tprob" and len(lines) == 31
    for line in lines[1:]:
        label, logits, prob = line.split("\t")
        logits = [float(x) for x in logits.split(" ")]
        prob = [float(x) for x in prob.split(" ")]
        assert len(logits) == 2 and int(label) == logits.index(max(logits))
        assert sum(prob) == pytest.approx(1.0, abs=1e-5)
    # Labels present: accuracy is printed and the predictions beat chance.
    run_classifier_infer.main(["--load_model_path", trained["model"], "--vocab_path",
                               trained["vocab"], "--config_path", trained["config"],
                               "--test_path", trained["dev"], "--prediction_path",
                               str(out_path), "--labels_num", "2", "--seq_length", "32"])
    assert out_path.read_text(encoding="utf-8").splitlines()[0] == "label"
    assert "Acc. (Correct/Total): " in capsys.readouterr().out


def run_script(script, argv):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / script)] + argv, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_inference_refuses_checkpoint_that_does_not_fit(trained, trained_log):
    # The model fine-tuned here has a sidecar: a typed value that contradicts it is named.
    sidecar_base = ["--load_model_path", trained["model"], "--vocab_path", trained["vocab"],
                    "--test_path", trained["test_nolabel"], "--prediction_path",
                    str(trained["dir"] / "never.tsv")]
    result = run_script("inference/run_classifier_infer.py", sidecar_base + ["--labels_num", "3"])
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: --labels_num does not fit {trained['model']}: labels_num is 3 here but 2 in "
        f"the model ({trained['model']}.json)")
    # Without the sidecar (a UER-py checkpoint), the checkpoint's shapes are checked as before.
    legacy = trained["dir"] / "legacy.bin"
    shutil.copyfile(trained["model"], legacy)
    base = ["--load_model_path", str(legacy), "--vocab_path", trained["vocab"],
            "--test_path", trained["test_nolabel"], "--prediction_path",
            str(trained["dir"] / "never.tsv"), "--seq_length", "32"]
    result = run_script("inference/run_classifier_infer.py",
                        base + ["--config_path", trained["config"], "--labels_num", "3"])
    assert result.returncode == 1
    assert result.stderr.strip().endswith("fine-tuned with 2 labels but --labels_num is 3")
    bigger = write_config(trained["dir"] / "three_layers.json", layers_num=3)
    with pytest.raises(SystemExit):
        run_classifier_infer.main(base + ["--config_path", bigger, "--labels_num", "2"])
    with pytest.raises(UerError, match="missing 16: encoder.transformer.2"):
        from uer.finetune.tasks.classifier_infer import load_classifier
        args = run_classifier_infer.parse_args(base + ["--config_path", bigger, "--labels_num", "2"])
        load_classifier(Classifier(args, 2), str(legacy))
    assert not (trained["dir"] / "never.tsv").exists()


def test_bad_input_is_one_line_error(trained, tmp_path):
    bad = write_tsv(tmp_path / "bad.tsv", ["text_a", "text_b"], [("a", "b")])
    result = run_script("run_classifier.py", train_argv(dict(trained, train=bad), trained["vocab"]))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {bad}: header has no 'label' column (found: text_a, text_b)"
    label_beyond = write_tsv(tmp_path / "big.tsv", ["label", "text_a"], [(0, "x"), (5, "y")])
    result = run_script("inference/run_classifier_infer.py", [
        "--load_model_path", trained["model"], "--vocab_path", trained["vocab"],
        "--config_path", trained["config"], "--test_path", label_beyond,
        "--prediction_path", str(tmp_path / "p.tsv"), "--labels_num", "2"])
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {label_beyond}:3: label 5 is beyond --labels_num 2 "
                                     "(labels are 0..1)")


@pytest.mark.parametrize("rows, message", [
    ([(0, "a"), ("pos", "b")], "bad.tsv:3: label 'pos' is not an integer"),
    ([(0, "a"), (1, "b", "c")], "bad.tsv:3: expected 2 tab-separated fields"),
    ([], "bad.tsv: file has a header but no data rows"),
])
def test_malformed_training_files(trained, tmp_path, rows, message):
    bad = write_tsv(tmp_path / "bad.tsv", ["label", "text_a"], rows)
    with pytest.raises(UerError, match=message):
        run_classifier.main.__wrapped__(train_argv(dict(trained, train=bad), trained["vocab"]))


def test_soft_targets_need_logits_and_mix_losses(trained):
    with pytest.raises(UerError, match="header has no 'logits' column"):
        run_classifier.main.__wrapped__(train_argv(trained, trained["vocab"], soft_targets=True))
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    batch = {"src": None, "seg": None, "label": torch.tensor([0, 1]),
             "teacher": torch.tensor([[1.0, 0.0], [0.0, 2.0]])}
    task = ClassificationTask(2, soft_targets=True, soft_alpha=0.25)
    loss = task.loss(lambda src, seg: logits, batch)
    mse = ((logits - batch["teacher"]) ** 2).mean()
    ce = torch.nn.functional.cross_entropy(logits, batch["label"])
    assert loss.item() == pytest.approx((0.25 * mse + 0.75 * ce).item())


def test_pooling_variants_ignore_padding_and_differ(trained):
    vocab = Vocab.from_file(trained["vocab"])
    outputs = {}
    for pooling in ("first", "last", "mean", "max"):
        torch.manual_seed(0)
        args = model_args(trained["config"], vocab, pooling=pooling)
        model = Classifier(args, 2).eval()
        src = torch.tensor([[101, 800, 801, 102, 0, 0], [101, 800, 801, 102, 900, 102]])
        seg = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 2, 2]])
        with torch.no_grad():
            padded = model(src, seg)
            alone = model(src[:1, :4], seg[:1, :4])
        assert torch.allclose(padded[0], alone[0], atol=1e-5), pooling
        outputs[pooling] = padded
    for a in outputs:
        for b in outputs:
            if a < b:
                assert not torch.allclose(outputs[a], outputs[b]), (a, b)


def test_pretrained_model_loads_encoder_and_rejects_other_shapes(trained, tmp_path, capsys):
    vocab = Vocab.from_file(trained["vocab"])
    pretrained = build_model(model_args(trained["config"], vocab, target="mlm"))
    path = str(tmp_path / "pretrained.bin")
    torch.save(pretrained.state_dict(), path)
    argv = train_argv(trained, trained["vocab"], pretrained_model_path=path, epochs_num=1,
                      output_model_path=tmp_path / "ft.bin")
    run_classifier.main(argv)
    out = capsys.readouterr().out
    assert f"tensors from {path}; missing 0; unexpected 0" in out
    state = torch.load(tmp_path / "ft.bin", weights_only=True)
    # The first epoch changed the weights, but they started from the pre-trained ones.
    assert state["embedding.position_embedding.weight"].shape == (512, 32)
    wide = write_config(tmp_path / "wide.json", emb_size=64, hidden_size=64)
    with pytest.raises(UerError, match="embedding.word_embedding.weight' has shape"):
        run_classifier.main.__wrapped__(argv[:argv.index("--config_path")]
                                        + ["--config_path", wide]
                                        + argv[argv.index("--config_path") + 2:])


def test_pairs_with_sentencepiece_and_char_tokenizers(tmp_path, spm_model_path, zh_vocab_path,
                                                      capsys):
    rows = easy_rows(48, seed=4, pair=True)
    train = write_tsv(tmp_path / "train.tsv", ["text_b", "label", "text_a"],
                      [(b, label, a) for label, a, b in rows])
    config = write_config(tmp_path / "tiny.json")
    for vocab_opts in (["--spm_model_path", spm_model_path], ["--vocab_path", zh_vocab_path,
                                                              "--tokenizer", "char"]):
        run_classifier.main(["--train_path", train, "--dev_path", train, "--config_path", config,
                             "--output_model_path", str(tmp_path / "pair.bin"), "--epochs_num",
                             "1", "--batch_size", "16", "--seq_length", "20", *vocab_opts])
        assert "Acc. (Correct/Total): " in capsys.readouterr().out
        assert (tmp_path / "pair.bin").exists()
        (tmp_path / "pair.bin").unlink()
