"""Models that remember how they were built (uer.sidecar): every model file gets
``<model>.json``; a script that loads a model takes its defaults from it; a typed value that
cannot fit is a one-line error naming both values; without the JSON nothing changes."""
import json
import shutil
import sys
from argparse import Namespace

import pytest
import torch

import preprocess
import pretrain
import run_classifier
from tests.conftest import REPO
from uer.errors import UerError
from uer.sidecar import copy_sidecar, read_sidecar
from uer.vocab import Vocab

sys.path.insert(0, str(REPO / "inference"))
import run_classifier_infer  # noqa: E402
import run_ner_infer  # noqa: E402

VOCAB = str(REPO / "models" / "sample_vocab.txt")
DATA = REPO / "datasets" / "sample_sentiment"
TINY = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu",
        "heads_num": 2, "layers_num": 2, "dropout": 0.0}


def write_json(path, value):
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny BERT pre-trained for 4 steps, then a classifier fine-tuned from it with no
    --config_path (its sizes come from the pre-trained model's sidecar)."""
    tmp = tmp_path_factory.mktemp("sidecar")
    config = write_json(tmp / "tiny.json", TINY)
    dataset, model, classifier = tmp / "dataset.pt", tmp / "model.bin", tmp / "classifier.bin"
    preprocess.main(["--corpus_path", str(REPO / "corpora" / "sample_bert.txt"),
                     "--vocab_path", VOCAB, "--dataset_path", str(dataset), "--target", "bert",
                     "--seq_length", "32", "--dup_factor", "1"])
    pretrain.main(["--dataset_path", str(dataset), "--vocab_path", VOCAB, "--config_path", config,
                   "--output_model_path", str(model), "--total_steps", "4",
                   "--save_checkpoint_steps", "2", "--report_steps", "2", "--batch_size", "4",
                   "--learning_rate", "1e-3"])
    run_classifier.main(["--pretrained_model_path", str(model), "--vocab_path", VOCAB,
                         "--train_path", str(DATA / "train.tsv"), "--dev_path", str(DATA / "dev.tsv"),
                         "--output_model_path", str(classifier), "--epochs_num", "1",
                         "--batch_size", "32", "--seq_length", "24", "--learning_rate", "1e-3",
                         "--pooling", "mean"])
    return {"dir": tmp, "config": config, "model": str(model), "classifier": str(classifier)}


def test_pretraining_writes_sidecar_beside_model_and_checkpoints(built):
    for path in (built["model"], built["model"] + "-2", built["model"] + "-4"):
        info = read_sidecar(path)
        assert info["format"] == "uer-model" and info["model_file"] == path.rsplit("/", 1)[1]
        assert info["config"] == TINY | {"dropout": 0.0}
        assert info["model"]["encoder"] == "bert" and info["model"]["target"] == "bert"
        assert info["model"]["tie_weights"] is False
        assert info["model"]["factorized_embedding_parameterization"] is False
        vocab = Vocab.from_file(VOCAB)
        assert info["vocab"]["size"] == len(vocab) and info["vocab"]["checksum"] == vocab.checksum
        assert info["tokenizer"] == "bert" and info["seq_length"] == 32  # the dataset's
    # The model file itself stays a plain state dict of tensors (UER-py can load it).
    state = torch.load(built["model"], map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_finetuning_takes_the_pretrained_architecture_from_the_sidecar(built):
    state = torch.load(built["classifier"], map_location="cpu", weights_only=True)
    assert state["embedding.word_embedding.weight"].shape == (307, 32)  # not bert_base's 768
    info = read_sidecar(built["classifier"])
    assert info["task"]["name"] == "classification" and info["task"]["labels_num"] == 2
    assert info["task"]["label_map"] == {"0": 0, "1": 1}
    assert info["task"]["options"]["pooling"] == "mean"
    assert info["seq_length"] == 24 and info["config"]["hidden_size"] == 32


def test_inference_needs_only_model_vocab_and_paths(built, capsys):
    prediction = built["dir"] / "prediction.tsv"
    run_classifier_infer.main(["--load_model_path", built["classifier"], "--vocab_path", VOCAB,
                               "--test_path", str(DATA / "test.tsv"),
                               "--prediction_path", str(prediction)])
    rows = prediction.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "label" and len(rows) == 101
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"Wrote 100 predictions to {prediction}"
    args = run_classifier_infer.parse_args(["--load_model_path", built["classifier"],
                                            "--test_path", "t", "--prediction_path", "p"])
    assert (args.labels_num, args.seq_length, args.pooling, args.hidden_size) == (2, 24, "mean", 32)
    assert args.vocab_path == VOCAB  # recorded path, used when none is typed


def test_typed_options_win_when_they_fit(built):
    args = run_classifier_infer.parse_args(["--load_model_path", built["classifier"],
                                            "--vocab_path", VOCAB, "--test_path", "t",
                                            "--prediction_path", "p", "--seq_length", "16",
                                            "--labels_num", "2", "--config_path", built["config"]])
    assert args.seq_length == 16 and args.labels_num == 2 and args.layers_num == 2


def test_a_typed_value_that_does_not_fit_names_both_values(built, tmp_path):
    base = ["--load_model_path", built["classifier"], "--vocab_path", VOCAB,
            "--test_path", "t", "--prediction_path", "p"]
    wide = write_json(tmp_path / "wide.json", dict(TINY, hidden_size=64))
    with pytest.raises(UerError) as err:
        run_classifier_infer.parse_args(base + ["--config_path", wide])
    assert str(err.value) == (f"--config_path {wide} does not fit {built['classifier']}: "
                              f"hidden_size is 64 here but 32 in the model "
                              f"({built['classifier']}.json)")
    with pytest.raises(UerError, match=r"--pooling does not fit .*: pooling is \"first\" here "
                                       r"but \"mean\" in the model"):
        run_classifier_infer.parse_args(base + ["--pooling", "first"])
    with pytest.raises(UerError, match=r"--encoder does not fit .*: encoder is \"lstm\""):
        run_classifier.parse_args(["--pretrained_model_path", built["model"], "--vocab_path", VOCAB,
                                   "--train_path", "t", "--dev_path", "d", "--encoder", "lstm"])


def test_another_vocabulary_is_refused_with_both_checksums(built, tmp_path):
    tokens = Vocab.from_file(VOCAB).i2w
    other = tmp_path / "other_vocab.txt"
    other.write_text("\n".join(tokens[:-1] + ["zzzz"]) + "\n", encoding="utf-8")
    with pytest.raises(UerError) as err:
        run_classifier_infer.parse_args(["--load_model_path", built["classifier"],
                                         "--vocab_path", str(other), "--test_path", "t",
                                         "--prediction_path", "p"])
    message = str(err.value)
    assert message.startswith(f"{other}: vocabulary of 307 tokens, checksum "
                              f"{Vocab.from_file(str(other)).checksum}, but ")
    assert f"checksum {Vocab.from_file(VOCAB).checksum}" in message


def test_without_sidecar_behaviour_is_as_before(built, tmp_path, capsys):
    legacy = tmp_path / "legacy.bin"
    shutil.copyfile(built["classifier"], legacy)
    base = ["--load_model_path", str(legacy), "--vocab_path", VOCAB,
            "--test_path", str(DATA / "test_nolabel.tsv"),
            "--prediction_path", str(tmp_path / "p.tsv")]
    with pytest.raises(SystemExit):
        run_classifier_infer.main(base)
    assert "error: --labels_num is required" in capsys.readouterr().err
    args = run_classifier_infer.parse_args(base + ["--labels_num", "2"])
    assert args.hidden_size == 768  # the default --config_path, as UER-py
    run_classifier_infer.main(base + ["--labels_num", "2", "--config_path", built["config"],
                                      "--pooling", "mean"])
    assert (tmp_path / "p.tsv").exists()


def test_derived_models_keep_the_sidecar(built, tmp_path):
    target = tmp_path / "copy.bin"
    copy_sidecar(built["model"], str(target), vocab=Vocab.from_file(VOCAB))
    info = read_sidecar(str(target))
    assert info["model_file"] == "copy.bin" and info["config"] == read_sidecar(built["model"])["config"]
    copy_sidecar(str(tmp_path / "none.bin"), str(tmp_path / "none_copy.bin"))  # no sidecar: none
    assert not (tmp_path / "none_copy.bin.json").exists()


def test_ner_inference_takes_the_label_map_from_the_sidecar(tmp_path):
    saved = {"O": 0, "B-LOC": 1, "I-LOC": 2}
    args = Namespace(label2id_path=None, label2id=saved, load_model_path=str(tmp_path / "m.bin"))
    label_map = run_ner_infer.saved_label_map(args)
    assert label_map.tags == ["O", "B-LOC", "I-LOC", "[PAD]"]
    other = write_json(tmp_path / "label2id.json", {"O": 0, "B-PER": 1, "I-PER": 2})
    with pytest.raises(UerError, match="differs from the one"):
        run_ner_infer.saved_label_map(Namespace(label2id_path=other, label2id=saved,
                                                load_model_path=args.load_model_path))
    with pytest.raises(UerError, match="--label2id_path is required"):
        run_ner_infer.saved_label_map(Namespace(label2id_path=None, label2id=None,
                                                load_model_path=args.load_model_path))


def test_converted_model_sidecar_gives_sizes_and_checks_vocab_size(tmp_path):
    from uer.sidecar import write_converted

    model = tmp_path / "converted.bin"
    torch.save({}, str(model))
    write_converted(str(model), dict(TINY, layernorm="standard", vocab_size=307), "mlm", 307)
    info = read_sidecar(str(model))
    assert info["config"]["layernorm"] == "standard" and "vocab_size" not in info["config"]
    assert info["model"] == {"embedding": "bert", "encoder": "bert", "target": "mlm"}
    assert info["vocab"] == {"size": 307}
    args = run_classifier.parse_args(["--pretrained_model_path", str(model), "--vocab_path", VOCAB,
                                      "--train_path", "t", "--dev_path", "d"])
    assert (args.hidden_size, args.layernorm) == (32, "standard")
    reserved = str(REPO / "models" / "reserved_vocab.txt")
    with pytest.raises(UerError, match=r"vocabulary of 104 tokens, .* built with 307 tokens \("):
        run_classifier.parse_args(["--pretrained_model_path", str(model), "--vocab_path", reserved,
                                   "--train_path", "t", "--dev_path", "d"])
