"""The pre-LayerNorm transformer layout (config key / option ``layernorm_positioning: "pre"``):
its formula, its extra final LayerNorm, that every encoder shortcut computes what the plain
forward does, that post-LN stays UER-py's layout, and that converters refuse it."""
import pytest
import torch

from uer.checkpoint import save_model
from uer.convert.uer_model import read_uer
from uer.errors import UerError
from uer.finetune.tasks.ner import NerTagger
from uer.model import build_model, model_args
from uer.vocab import Vocab
from test_packed_rows import batch  # rows of lengths 9, 6, 4, 2 with two segments

CONFIG = dict(emb_size=32, hidden_size=32, feedforward_size=64, heads_num=4, layers_num=2,
              dropout=0.0, hidden_act="gelu")
VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])


def pre_model(**overrides):
    torch.manual_seed(0)
    config = dict(CONFIG, layernorm_positioning="pre")
    config.update(overrides)
    args = model_args(config, VOCAB, target="mlm")
    return build_model(args)


def reference_pre_ln(model, src, seg):
    """The pre-LN formula written out with the layer's own modules."""
    hidden = model.embedding(src, seg)
    mask = (1.0 - (seg > 0).float())[:, None, None, :] * -10000.0
    for layer in model.encoder.transformer:
        normed = layer.layer_norm_1(hidden)
        hidden = hidden + layer.self_attn(normed, normed, normed, mask)
        hidden = hidden + layer.feed_forward(layer.layer_norm_2(hidden))
    return model.encoder.layer_norm(hidden)


def test_pre_ln_computes_the_pre_ln_formula_and_has_a_final_layer_norm():
    model = pre_model()
    names = set(model.state_dict())
    assert "encoder.layer_norm.gamma" in names and "encoder.layer_norm.beta" in names
    src, seg = batch()
    with torch.no_grad():
        model.train()  # dropout 0: the autograd road
        got = model.encoder(model.embedding(src, seg), seg)
        expected = reference_pre_ln(model, src, seg)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_post_ln_stays_uer_py_layout():
    torch.manual_seed(0)
    model = build_model(model_args(dict(CONFIG), VOCAB, target="mlm"))
    assert not any(name.startswith("encoder.layer_norm") for name in model.state_dict())
    assert model.encoder.pre_norm is False


def test_inference_shortcuts_agree_with_the_plain_forward():
    model = pre_model()
    model.eval()
    src, seg = batch()
    real = (seg > 0).unsqueeze(-1)
    with torch.inference_mode():
        emb = model.embedding(src, seg)
        plain = model.encoder(emb.clone(), seg)
        packed = model.encoder(emb.clone(), seg, real_only=True)
        first = model.encoder(emb.clone(), seg, first_only=True)
        rows = torch.zeros_like(seg, dtype=torch.bool)
        rows[:, 1] = True
        subset = model.encoder(emb.clone(), seg, rows=rows)
    torch.testing.assert_close(packed * real, plain * real, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first[:, 0], plain[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(subset[:, 1], plain[:, 1], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        model.train()
        trained_road = model.encoder(emb.clone(), seg)
    torch.testing.assert_close(trained_road * real, plain * real, rtol=1e-5, atol=1e-5)


def test_pre_ln_ner_model_packs_padding_rows_like_the_plain_road():
    args = model_args(dict(CONFIG, layers_num=3, layernorm_positioning="pre"), VOCAB,
                      embedding="bert", encoder="bert", pooling="first")
    torch.manual_seed(0)
    model = NerTagger(args, 5)
    model.eval()
    src, seg = batch()
    real = (seg > 0).unsqueeze(-1)
    with torch.inference_mode():
        packed = model.encoder(model.embedding(src, seg), seg, real_only=True)
        plain = model.encoder(model.embedding(src, seg), seg)
    torch.testing.assert_close(packed * real, plain * real, rtol=1e-5, atol=1e-5)


def test_bad_positioning_value_is_a_config_error():
    with pytest.raises(UerError, match="layernorm_positioning"):
        pre_model(layernorm_positioning="middle")


def test_bert_converters_refuse_a_pre_ln_checkpoint(tmp_path):
    path = str(tmp_path / "pre.bin")
    save_model(pre_model(), path)
    with pytest.raises(UerError, match="pre-LayerNorm"):
        read_uer(path)


def test_pre_ln_travels_from_pretraining_to_fine_tuning_and_inference(tmp_path, capsys):
    """pretrain.py --layernorm_positioning pre records it in the sidecar; run_classifier.py
    (no flag) rebuilds a pre-LN body that takes every pre-trained tensor, and inference too."""
    import json
    import sys

    import preprocess
    import pretrain
    import run_classifier
    from tests.conftest import REPO
    from uer.sidecar import read_sidecar

    sys.path.insert(0, str(REPO / "inference"))
    import run_classifier_infer

    vocab = str(REPO / "models" / "sample_vocab.txt")
    data = REPO / "datasets" / "sample_sentiment"
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(dict(CONFIG, hidden_size=32)), encoding="utf-8")
    dataset, model, classifier = tmp_path / "d.pt", tmp_path / "m.bin", tmp_path / "c.bin"
    preprocess.main(["--corpus_path", str(REPO / "corpora" / "sample_docs.txt"), "--vocab_path",
                     vocab, "--dataset_path", str(dataset), "--target", "mlm", "--seq_length",
                     "32", "--dynamic_masking"])
    pretrain.main(["--dataset_path", str(dataset), "--vocab_path", vocab, "--config_path",
                   str(config), "--output_model_path", str(model), "--total_steps", "3",
                   "--report_steps", "3", "--batch_size", "4", "--target", "mlm",
                   "--layernorm_positioning", "pre", "--learning_rate", "1e-3"])
    assert read_sidecar(str(model))["config"]["layernorm_positioning"] == "pre"
    capsys.readouterr()
    run_classifier.main(["--pretrained_model_path", str(model), "--vocab_path", vocab,
                         "--train_path", str(data / "train.tsv"), "--dev_path", str(data / "dev.tsv"),
                         "--output_model_path", str(classifier), "--epochs_num", "1",
                         "--batch_size", "32", "--seq_length", "24", "--pooling", "mean"])
    out = capsys.readouterr().out
    assert "encoder.layer_norm" not in out  # neither missing nor unexpected
    state = torch.load(classifier, map_location="cpu", weights_only=True)
    pretrained = torch.load(model, map_location="cpu", weights_only=True)
    assert "encoder.layer_norm.gamma" in state
    assert read_sidecar(str(classifier))["config"]["layernorm_positioning"] == "pre"
    predictions = tmp_path / "pred.tsv"
    run_classifier_infer.main(["--load_model_path", str(classifier), "--vocab_path", vocab,
                               "--test_path", str(data / "test_nolabel.tsv"),
                               "--prediction_path", str(predictions)])
    assert predictions.read_text(encoding="utf-8").count("\n") > 1
    # a post-LN fine-tuning run cannot take the pre-LN body: both values are named
    with pytest.raises(SystemExit):
        run_classifier.main(["--pretrained_model_path", str(model), "--vocab_path", vocab,
                             "--train_path", str(data / "train.tsv"), "--dev_path",
                             str(data / "dev.tsv"), "--output_model_path", str(tmp_path / "x.bin"),
                             "--layernorm_positioning", "post"])
    err = capsys.readouterr().err
    assert "layernorm_positioning" in err and "pre" in err and "post" in err
    assert pretrained["encoder.layer_norm.gamma"].shape == (32,)
