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

CONFIG = dict(emb_size=32, hidden_size=32, feedforward_size=64, heads_num=4, layers_num=2,
              dropout=0.0, hidden_act="gelu")
VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])


def pre_model(**overrides):
    torch.manual_seed(0)
    config = dict(CONFIG, layernorm_positioning="pre")
    config.update(overrides)
    args = model_args(config, VOCAB, target="mlm")
    return build_model(args)


def batch(lengths=(9, 6, 4, 2), width=9):
    torch.manual_seed(5)
    src = torch.randint(5, 45, (len(lengths), width))
    seg = torch.zeros_like(src)
    for row, length in enumerate(lengths):
        seg[row, :length] = 1
    return src.masked_fill(seg == 0, 0), seg


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
