"""The rnn/cnn/attention encoder zoo and the bilm target: shapes, parameter names (UER-py's),
causality, padding handling, E != H, error messages, bf16 autocast."""
import argparse

import pytest
import torch
import torch.nn.functional as F

from uer.encoders import str2encoder
from uer.errors import UerError
from uer.model import build_model, model_args
from uer.vocab import Vocab

ZOO = ["lstm", "gru", "bilstm", "cnn", "gatedcnn", "attn", "synt", "rcnn", "crnn"]
CAUSAL = ["lstm", "gru", "cnn", "gatedcnn", "rcnn", "crnn"]
VOCAB_SIZE = 120


def encoder_args(emb_size=16, hidden_size=24, **overrides):
    values = dict(emb_size=emb_size, hidden_size=hidden_size, layers_num=3, dropout=0.1,
                  kernel_size=3, block_size=2, heads_num=4, feedforward_size=32, seq_length=12,
                  synt_type="dense", hidden_act="gelu", bidirectional=False)
    values.update(overrides)
    return argparse.Namespace(**values)


def tiny_vocab():
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + \
        ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return Vocab(specials + [f"w{i}" for i in range(VOCAB_SIZE - len(specials))])


def build(name, **overrides):
    torch.manual_seed(0)
    return str2encoder[name](encoder_args(**overrides)).eval()


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("embedding", ["word", "bert"])
@pytest.mark.parametrize("emb_size", [16, 24])
def test_every_encoder_runs_with_both_embeddings_and_any_emb_size(name, embedding, emb_size):
    args = model_args(dict(emb_size=emb_size, hidden_size=24, layers_num=2, dropout=0.1,
                           kernel_size=3, block_size=2, heads_num=4, feedforward_size=32,
                           seq_length=10, hidden_act="gelu"),
                      tiny_vocab(), embedding=embedding, encoder=name, target="mlm")
    torch.manual_seed(0)
    model = build_model(args)
    src = torch.randint(104, VOCAB_SIZE, (2, 10))
    seg = torch.ones_like(src)
    seg[1, 7:] = 0
    tgt = torch.zeros_like(src)
    tgt[:, 3] = src[:, 3]
    loss, correct, denominator = model(src, tgt, seg)
    assert torch.isfinite(loss) and float(denominator) == pytest.approx(2.0)
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


# Parameter names are UER-py's (SPEC §5.2), so its checkpoints load unchanged.
EXPECTED_KEYS = {
    "lstm": {"rnn.weight_ih_l0": [96, 24], "rnn.weight_hh_l2": [96, 24], "rnn.bias_ih_l1": [96]},
    "gru": {"rnn.weight_ih_l0": [72, 24], "rnn.bias_hh_l2": [72]},
    "bilstm": {"rnn_forward.weight_ih_l0": [48, 24], "rnn_backward.weight_hh_l2": [48, 12]},
    "cnn": {"conv_1.weight": [24, 1, 3, 24], "conv.2.weight": [24, 24, 3, 1]},
    "gatedcnn": {"conv_1.weight": [24, 1, 3, 24], "gate_1.bias": [24], "conv_b1": [1, 24, 1, 1],
                 "gate_b1": [1, 24, 1, 1], "conv.1.weight": [24, 24, 3, 1],
                 "gate_b.1": [1, 24, 1, 1], "conv_b.0": [1, 24, 1, 1]},
    "attn": {"self_attn.2.linear_layers.0.weight": [24, 24], "self_attn.0.final_linear.bias": [24]},
    "synt": {"synthesizer.2.att.F_linear_1.weight": [12, 24],
             "synthesizer.0.att.F_linear_2.weight": [12, 12],
             "synthesizer.0.att.G_linear.weight": [24, 24],
             "synthesizer.1.att.final_linear.bias": [24],
             "synthesizer.0.layer_norm_1.gamma": [24],
             "synthesizer.0.feed_forward.linear_1.weight": [32, 24],
             "synthesizer.2.layer_norm_2.beta": [24]},
    "rcnn": {"rnn.weight_ih_l2": [96, 24], "conv_1.weight": [24, 1, 3, 24],
             "conv.1.weight": [24, 24, 3, 1]},
    "crnn": {"rnn.weight_ih_l0": [96, 24], "conv_1.weight": [24, 1, 3, 24],
             "conv.1.weight": [24, 24, 3, 1]},
}
EXPECTED_COUNTS = {"cnn": ("conv.", 3 * 2), "gatedcnn": ("conv.", 2 * 2),
                   "rcnn": ("conv.", 2 * 2), "crnn": ("conv.", 2 * 2)}


@pytest.mark.parametrize("name", ZOO)
def test_parameter_names_and_shapes_follow_uer(name):
    state = build(name, emb_size=24).state_dict()
    shapes = {key: list(value.shape) for key, value in state.items()}
    for key, shape in EXPECTED_KEYS[name].items():
        assert shapes.get(key) == shape, key
    assert not any(key.startswith("linear.") for key in shapes)  # E == H: no projection
    if name in EXPECTED_COUNTS:
        prefix, count = EXPECTED_COUNTS[name]
        assert len([k for k in shapes if k.startswith(prefix)]) == count


@pytest.mark.parametrize("name", ["attn", "synt"])
def test_projection_only_when_emb_size_differs(name):
    shapes = {k: list(v.shape) for k, v in build(name, emb_size=16).state_dict().items()}
    assert shapes["linear.weight"] == [24, 16]


def test_rcnn_crnn_handle_emb_size_unlike_uer():
    # UER-py sized rcnn's conv_1 and crnn's LSTM by emb_size; ours read hidden_size.
    rcnn = {k: list(v.shape) for k, v in build("rcnn", emb_size=16).state_dict().items()}
    crnn = {k: list(v.shape) for k, v in build("crnn", emb_size=16).state_dict().items()}
    assert rcnn["rnn.weight_ih_l0"] == [96, 16] and rcnn["conv_1.weight"] == [24, 1, 3, 24]
    assert crnn["conv_1.weight"] == [24, 1, 3, 16] and crnn["rnn.weight_ih_l0"] == [96, 24]


def test_bidirectional_lstm_and_gru_split_hidden_size():
    for name, gates in (("lstm", 4), ("gru", 3)):
        encoder = build(name, bidirectional=True)
        shapes = {k: list(v.shape) for k, v in encoder.state_dict().items()}
        assert shapes["rnn.weight_hh_l0"] == [gates * 12, 12]
        assert shapes["rnn.weight_hh_l0_reverse"] == [gates * 12, 12]
        assert encoder(torch.randn(2, 5, 16), torch.ones(2, 5)).shape == (2, 5, 24)
    with pytest.raises(UerError, match="hidden_size 25 must be even"):
        build("lstm", hidden_size=25, bidirectional=True)
    with pytest.raises(UerError, match="hidden_size 25 must be even"):
        build("bilstm", hidden_size=25)


def _outputs_after_changing(encoder, position, length=9, emb_size=16):
    torch.manual_seed(1)
    emb = torch.randn(1, length, emb_size)
    changed = emb.clone()
    changed[0, position] += 1.0
    seg = torch.ones(1, length, dtype=torch.long)
    with torch.no_grad():
        return encoder(emb, seg), encoder(changed, seg)


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_encoders_do_not_look_ahead(name):
    before, after = _outputs_after_changing(build(name), position=5)
    assert torch.allclose(before[0, :5], after[0, :5])
    assert not torch.allclose(before[0, 5], after[0, 5])


@pytest.mark.parametrize("name", ["attn", "synt", "bilstm"])
def test_bidirectional_encoders_look_ahead(name):
    before, after = _outputs_after_changing(build(name), position=5)
    assert not torch.allclose(before[0, :5], after[0, :5])


def test_conv1d_path_matches_uer_conv2d_formulation():
    """Our 1-d convolutions compute UER-py's Conv2d over the left-padded [B, 1, L, E] image."""
    encoder = build("cnn")
    emb = torch.randn(2, 7, 16)
    with torch.no_grad():
        hidden = encoder.conv_1(F.pad(emb, (0, 0, 2, 0)).unsqueeze(1))  # [B, H, L, 1]
        for conv in encoder.conv:
            hidden = conv(F.pad(hidden, (0, 0, 2, 0)))
        expected = hidden.squeeze(3).transpose(1, 2)
        ours = encoder(emb, torch.ones(2, 7))
    assert torch.allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("layers_num, residual_last", [(3, True), (4, False), (5, True)])
def test_gatedcnn_residual_every_block_size_layers(layers_num, residual_last):
    # With every later layer's GLU output forced to zero (gate bias -1e4), only the residual
    # path carries layer 1's output: it is added after later layers 2, 4, ... (block_size 2),
    # so the output is layer 1's output exactly when the last layer closes a block, else zero.
    encoder = build("gatedcnn", layers_num=layers_num)
    with torch.no_grad():
        for bias in encoder.gate_b:
            bias.fill_(-1e4)
        image = F.pad(torch.randn(1, 6, 16), (0, 0, 2, 0)).unsqueeze(1)
        first = (encoder.conv_1(image).squeeze(3) + encoder.conv_b1.view(1, -1, 1)) * \
            torch.sigmoid(encoder.gate_1(image).squeeze(3) + encoder.gate_b1.view(1, -1, 1))
        out = encoder(image[:, 0, 2:], torch.ones(1, 6))
    expected = first.transpose(1, 2) if residual_last else torch.zeros_like(out)
    assert torch.allclose(out, expected, atol=1e-5)
    assert float(first.abs().sum()) > 0


@pytest.mark.parametrize("name", ["attn", "synt"])
def test_padding_keys_are_masked(name):
    encoder = build(name, emb_size=24)
    emb = torch.randn(1, 8, 24)
    seg = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    changed = emb.clone()
    changed[0, 6] += 3.0
    with torch.no_grad():
        assert torch.allclose(encoder(emb, seg)[0, :5], encoder(changed, seg)[0, :5], atol=1e-5)


@pytest.mark.parametrize("synt_type", ["dense", "random"])
def test_synt_shorter_input_equals_padding_to_seq_length(synt_type):
    encoder = build("synt", emb_size=24, synt_type=synt_type, seq_length=12)
    emb = torch.randn(2, 7, 24)
    seg = torch.ones(2, 7, dtype=torch.long)
    padded_emb = torch.cat([emb, torch.randn(2, 5, 24)], dim=1)
    padded_seg = torch.cat([seg, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short = encoder(emb, seg)
        full = encoder(padded_emb, padded_seg)
    assert torch.allclose(short, full[:, :7], atol=1e-5)
    with pytest.raises(UerError, match="longer than the config's seq_length 12"):
        encoder(torch.randn(1, 13, 24), torch.ones(1, 13, dtype=torch.long))


def test_synt_and_attn_config_errors():
    with pytest.raises(UerError, match="config key 'synt_type' must be one of dense, random, "
                                       "got 'sparse' \\(encoder synt\\)"):
        build("synt", synt_type="sparse")
    with pytest.raises(UerError, match="config key 'seq_length' is required by encoder synt"):
        build("synt", seq_length=None)
    with pytest.raises(UerError, match="config key 'heads_num' is required by encoder attn"):
        build("attn", heads_num=None)
    # UER-py's synt crashed for want of hidden_act; ours defaults to gelu.
    assert build("synt", hidden_act=None) is not None


@pytest.mark.parametrize("name", ["lstm", "gru", "bilstm", "rcnn", "crnn"])
def test_recurrent_encoders_run_under_cpu_bf16_autocast(name):
    encoder = build(name).train()
    emb = torch.randn(2, 6, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(emb.to(torch.bfloat16), torch.ones(2, 6))
    assert out.shape == (2, 6, 24) and torch.isfinite(out.float()).all()
    out.float().sum().backward()
    assert emb.grad is not None


# ----- bilm target ---------------------------------------------------------------------------

def bilm_model(**overrides):
    config = dict(emb_size=16, hidden_size=32, layers_num=2, dropout=0.0)
    config.update(overrides)
    args = model_args(config, tiny_vocab(), embedding="word", encoder="bilstm", target="bilm")
    torch.manual_seed(0)
    return build_model(args)


def test_bilm_losses_match_a_direct_computation():
    model = bilm_model()
    hidden = torch.randn(2, 6, 32)
    tgt_fwd = torch.randint(1, VOCAB_SIZE, (2, 6))
    tgt_bwd = torch.randint(1, VOCAB_SIZE, (2, 6))
    tgt_fwd[1, 4:] = 0
    tgt_bwd[0, :2] = 0
    tgt_bwd[1, 4:] = 0
    model.requires_grad_(False)
    loss_f, loss_b, correct_f, correct_b, denominator = model.target(hidden, (tgt_fwd, tgt_bwd))
    layer = model.target.output_layer
    assert list(layer.weight.shape) == [VOCAB_SIZE, 16]
    for half, tgt, loss, correct in ((hidden[..., :16], tgt_fwd, loss_f, correct_f),
                                     (hidden[..., 16:], tgt_bwd, loss_b, correct_b)):
        keep = tgt > 0
        logits = layer(half[keep])
        assert float(loss) == pytest.approx(float(F.cross_entropy(logits, tgt[keep])), rel=1e-5)
        assert float(correct) == float((logits.argmax(-1) == tgt[keep]).sum())
    assert float(denominator) == pytest.approx(8.0)


def test_bilm_tie_weights_shares_the_embedding():
    # The output layer reads H/2 features: tying needs emb_size == hidden_size / 2.
    args = model_args(dict(emb_size=16, hidden_size=32, layers_num=1, dropout=0.0), tiny_vocab(),
                      embedding="word", encoder="bilstm", target="bilm", tie_weights=True)
    model = build_model(args)
    assert model.target.output_layer.weight is model.embedding.word_embedding.weight
    args.emb_size = 24
    with pytest.raises(UerError, match="tie_weights"):
        build_model(args)


def test_bilm_odd_hidden_size_refused():
    with pytest.raises(UerError, match="must be even"):
        bilm_model(hidden_size=31)


@pytest.mark.parametrize("encoder, target, extra", [
    ("bilstm", "lm", {}), ("attn", "lm", {}), ("synt", "lm", {}),
    ("lstm", "lm", {"bidirectional": True}), ("gru", "lm", {"bidirectional": True}),
    ("lstm", "bilm", {}), ("gatedcnn", "bilm", {}), ("lstm", "bilm", {"bidirectional": True}),
])
def test_nonsensical_combinations_are_refused(encoder, target, extra):
    args = model_args(dict(emb_size=16, hidden_size=32, layers_num=1, dropout=0.0, heads_num=2,
                           feedforward_size=32, seq_length=8),
                      tiny_vocab(), embedding="word", encoder=encoder, target=target, **extra)
    with pytest.raises(UerError, match=f"--target {target} with --encoder {encoder}"):
        build_model(args)


# ----- shipped configs (SPEC §4.6) -------------------------------------------------------------

CONFIGS = {
    "rnn_config": dict(emb_size=512, hidden_size=1024, layers_num=2, dropout=0.1),
    "birnn_config": dict(emb_size=512, hidden_size=1536, layers_num=2, dropout=0.1),
    "cnn_config": dict(emb_size=512, hidden_size=512, layers_num=6, dropout=0.1, kernel_size=3,
                       block_size=2),
    "gatedcnn_9_config": dict(emb_size=128, hidden_size=807, layers_num=9, dropout=0.1,
                              kernel_size=4, block_size=2),
    "gatedcnn_13_config": dict(emb_size=128, hidden_size=1268, layers_num=13, dropout=0.1,
                               kernel_size=4, block_size=2),
    "synt_dense_base_config": dict(emb_size=768, feedforward_size=3072, hidden_size=768,
                                   heads_num=12, layers_num=12, dropout=0.1, encoder="synt",
                                   seq_length=128, synt_type="dense",
                                   vocab_path="models/google_zh_vocab.txt"),
}
CONFIG_ENCODER = {"rnn_config": "lstm", "birnn_config": "bilstm", "cnn_config": "cnn",
                  "gatedcnn_9_config": "gatedcnn", "gatedcnn_13_config": "gatedcnn",
                  "synt_dense_base_config": "synt"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_shipped_configs_have_uer_values_and_build(name):
    import json

    from conftest import REPO

    with open(REPO / "models" / f"{name}.json", encoding="utf-8") as handle:
        config = json.load(handle)
    assert config == CONFIGS[name]
    # Build the encoder at a reduced depth/width but with every other key as shipped.
    small = dict(config, layers_num=2 if name != "gatedcnn_9_config" else 3)
    small.update(hidden_size=min(config["hidden_size"], 64), emb_size=min(config["emb_size"], 48))
    small.setdefault("heads_num", 4)
    small["feedforward_size"] = 32
    args = argparse.Namespace(bidirectional=False, **small)
    encoder = str2encoder[CONFIG_ENCODER[name]](args).eval()
    out = encoder(torch.randn(1, 9, small["emb_size"]), torch.ones(1, 9, dtype=torch.long))
    assert out.shape == (1, 9, small["hidden_size"])
