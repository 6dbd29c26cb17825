"""Model assembly, parameter names (SPEC §5.2), weight tying, losses, init and checkpoints."""
import itertools
import json
import os

import pytest
import torch
import torch.nn.functional as F

import uer.model
from uer.checkpoint import init_weights, load_model, load_pretrained, save_model
from uer.errors import UerError
from uer.model import build_encoder, build_model, model_args
from uer.vocab import Vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)])
V = len(VOCAB)
TINY = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu",
        "heads_num": 4, "layers_num": 2, "dropout": 0.1}


def tiny_args(**overrides):
    return model_args(TINY, vocab=VOCAB, **overrides)


def batch(target, batch_size=3, length=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(5, V, (batch_size, length), generator=gen)
    seg = torch.ones(batch_size, length, dtype=torch.long)
    seg[0, 6:] = 0
    src[0, 6:] = 0
    seg[1, 5:] = 2
    if target in ("bert", "albert", "mlm"):
        tgt_mlm = torch.zeros_like(src)
        tgt_mlm[:, 2] = src[:, 2]
        tgt_mlm[1, 7] = src[1, 7]
        tgt = (tgt_mlm, torch.tensor([0, 1, 1])) if target != "mlm" else tgt_mlm
    elif target == "lm":
        tgt = torch.roll(src, -1, dims=1)
        tgt[:, -1] = 0
    else:  # cls
        tgt = torch.tensor([0, 2, 1])
    return src, tgt, seg


TARGET_OUTPUTS = {"mlm": 3, "bert": 5, "albert": 5, "lm": 3, "cls": 2}


@pytest.mark.parametrize("embedding,encoder,target", [
    combo for combo in itertools.product(["bert", "word"], ["bert", "gpt"], sorted(TARGET_OUTPUTS))
    if not (combo[2] == "lm" and combo[1] == "bert")])
def test_every_combination_builds_and_trains(embedding, encoder, target):
    torch.manual_seed(0)
    args = tiny_args(embedding=embedding, encoder=encoder, target=target, labels_num=3)
    model = build_model(args)
    init_weights(model)
    src, tgt, seg = batch(target)
    outputs = model(src, tgt, seg)
    assert len(outputs) == TARGET_OUTPUTS[target]
    loss = outputs[0] + (outputs[1] if target in ("bert", "albert") else 0)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.embedding.word_embedding.weight.grad is not None
    hidden = model.encoder(model.embedding(src, seg), seg)
    assert hidden.shape == (3, 10, 32)


def expected_bert_keys(layer_prefixes, factorized=False, E=32, H=32, F_=64, target="bert"):
    keys = {"embedding.word_embedding.weight": (V, E), "embedding.position_embedding.weight": (512, E),
            "embedding.segment_embedding.weight": (3, E), "embedding.layer_norm.gamma": (E,),
            "embedding.layer_norm.beta": (E,)}
    if factorized:
        keys.update({"encoder.linear.weight": (H, E), "encoder.linear.bias": (H,)})
    for prefix in layer_prefixes:
        for i in range(3):
            keys[f"{prefix}.self_attn.linear_layers.{i}.weight"] = (H, H)
            keys[f"{prefix}.self_attn.linear_layers.{i}.bias"] = (H,)
        keys.update({f"{prefix}.self_attn.final_linear.weight": (H, H),
                     f"{prefix}.self_attn.final_linear.bias": (H,),
                     f"{prefix}.layer_norm_1.gamma": (H,), f"{prefix}.layer_norm_1.beta": (H,),
                     f"{prefix}.feed_forward.linear_1.weight": (F_, H),
                     f"{prefix}.feed_forward.linear_1.bias": (F_,),
                     f"{prefix}.feed_forward.linear_2.weight": (H, F_),
                     f"{prefix}.feed_forward.linear_2.bias": (H,),
                     f"{prefix}.layer_norm_2.gamma": (H,), f"{prefix}.layer_norm_2.beta": (H,)})
    M = E if target == "albert" else H
    sentence = "sop" if target == "albert" else "nsp"
    keys.update({"target.mlm_linear_1.weight": (M, H), "target.mlm_linear_1.bias": (M,),
                 "target.layer_norm.gamma": (M,), "target.layer_norm.beta": (M,),
                 "target.mlm_linear_2.weight": (V, M), "target.mlm_linear_2.bias": (V,),
                 f"target.{sentence}_linear_1.weight": (H, H), f"target.{sentence}_linear_1.bias": (H,),
                 f"target.{sentence}_linear_2.weight": (2, H), f"target.{sentence}_linear_2.bias": (2,)})
    return keys


def shapes(model):
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_bert_parameter_names():
    model = build_model(tiny_args())
    assert shapes(model) == expected_bert_keys(["encoder.transformer.0", "encoder.transformer.1"])


def test_albert_parameter_names_with_sharing_and_factorization():
    args = tiny_args(emb_size=16, target="albert", parameter_sharing=True,
                     factorized_embedding_parameterization=True)
    model = build_model(args)
    assert shapes(model) == expected_bert_keys(["encoder.transformer"], factorized=True, E=16,
                                               target="albert")


def test_parameter_sharing_reuses_one_layer():
    model = build_model(tiny_args(parameter_sharing=True, layers_num=3)).eval()
    calls = []
    model.encoder.transformer.register_forward_hook(lambda *a: calls.append(1))
    src, _, seg = batch("bert")
    model.encoder(model.embedding(src, seg), seg)
    assert len(calls) == 3


def test_gpt_uses_bert_key_names():
    gpt = build_model(tiny_args(encoder="gpt", target="lm"))
    bert = build_model(tiny_args(encoder="bert", target="mlm"))
    enc_keys = {k: v for k, v in shapes(gpt).items() if k.startswith("encoder.")}
    assert enc_keys and all(k.startswith("encoder.transformer.") for k in enc_keys)
    assert enc_keys == {k: v for k, v in shapes(bert).items() if k.startswith("encoder.")}
    assert shapes(gpt)["target.output_layer.weight"] == (V, 32)


def test_emb_size_mismatch_needs_factorization():
    with pytest.raises(UerError, match="factorized_embedding_parameterization"):
        build_model(tiny_args(emb_size=16))


@pytest.mark.parametrize("target,layer", [("bert", "mlm_linear_2"), ("mlm", "mlm_linear_2"),
                                          ("lm", "output_layer")])
def test_tie_weights_shares_the_parameter(target, layer):
    encoder = "gpt" if target == "lm" else "bert"
    model = build_model(tiny_args(target=target, encoder=encoder, tie_weights=True))
    output = getattr(model.target, layer)
    assert output.weight is model.embedding.word_embedding.weight
    with torch.no_grad():
        model.embedding.word_embedding.weight[7, 0] = 42.0
    assert output.weight[7, 0].item() == 42.0
    state = model.state_dict()
    assert f"target.{layer}.weight" in state and "embedding.word_embedding.weight" in state


def test_tie_weights_refusals():
    with pytest.raises(UerError, match="no vocabulary output layer"):
        build_model(tiny_args(target="cls", labels_num=2, tie_weights=True))
    # albert's head projects to emb_size, so it ties; bert's head with E != H cannot.
    build_model(tiny_args(emb_size=16, target="albert", factorized_embedding_parameterization=True,
                          tie_weights=True))
    with pytest.raises(UerError, match="shape"):
        build_model(tiny_args(emb_size=16, factorized_embedding_parameterization=True,
                              tie_weights=True))


def test_mlm_loss_uses_only_masked_rows():
    torch.manual_seed(1)
    model = build_model(tiny_args(target="mlm"))
    memory = torch.randn(2, 6, 32)
    tgt = torch.zeros(2, 6, dtype=torch.long)
    tgt[0, 1], tgt[1, 4] = 9, 17
    loss, correct, denominator = model.target(memory, tgt)
    changed = memory.clone()
    changed[0, 0] += 10.0
    changed[1, 5] -= 10.0
    assert torch.equal(model.target(changed, tgt)[0], loss)
    head = model.target
    rows = torch.stack([memory[0, 1], memory[1, 4]])
    logits = head.mlm_linear_2(head.layer_norm(F.gelu(head.mlm_linear_1(rows))))
    manual = -torch.log_softmax(logits, -1)[[0, 1], [9, 17]].sum() / (2 + 1e-6)
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert correct.item() == (logits.argmax(-1) == torch.tensor([9, 17])).sum().item()
    assert denominator.item() == pytest.approx(2.0)
    # No masked token: loss 0, no NaN.
    empty = model.target(memory, torch.zeros(2, 6, dtype=torch.long))
    assert empty[0].item() == 0.0 and empty[1].item() == 0.0


def test_lm_loss_averages_over_labelled_positions():
    torch.manual_seed(2)
    model = build_model(tiny_args(encoder="gpt", target="lm"))
    memory = torch.randn(2, 5, 32)
    tgt = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    loss, correct, denominator = model.target(memory, tgt)
    log_probs = torch.log_softmax(model.target.output_layer(memory), -1)
    rows = tgt > 0
    manual = -log_probs[rows].gather(1, tgt[rows][:, None]).mean()
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert denominator.item() == pytest.approx(8.0)
    assert correct.item() == (log_probs[rows].argmax(-1) == tgt[rows]).sum().item()


def test_init_rule():
    torch.manual_seed(3)
    model = build_model(tiny_args(layers_num=4, hidden_size=64, emb_size=64, feedforward_size=128))
    init_weights(model)
    for name, param in model.named_parameters():
        if name.endswith("gamma"):
            assert torch.equal(param, torch.ones_like(param)), name
        elif name.endswith("beta"):
            assert torch.equal(param, torch.zeros_like(param)), name
    assert model.embedding.word_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)
    bias = torch.cat([p for n, p in model.named_parameters() if n.endswith("bias")])
    assert bias.abs().max().item() > 0.01  # biases are drawn too, as in UER-py
    assert bias.std().item() == pytest.approx(0.02, rel=0.15)


class Wrapper(torch.nn.Module):
    """Stands in for DDP/DataParallel: the real model lives in ``.module``."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def test_save_load_round_trip(tmp_path, capsys):
    torch.manual_seed(4)
    model = build_model(tiny_args())
    init_weights(model)
    path = tmp_path / "model.bin"
    save_model(Wrapper(model), str(path))
    assert os.listdir(tmp_path) == ["model.bin"]  # no temp file left behind
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert not any(key.startswith("module.") for key in saved)
    fresh = build_model(tiny_args())
    report = load_model(fresh, str(path))
    assert report.missing == [] and report.unexpected == [] and len(report.loaded) == len(saved)
    assert "missing 0" in capsys.readouterr().out
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_load_strips_module_prefix_and_reports(tmp_path):
    model = build_model(tiny_args())
    state = {f"module.{k}": v for k, v in model.state_dict().items()
             if not k.startswith("target.nsp")}
    state["module.extra.weight"] = torch.zeros(2)
    path = tmp_path / "wrapped.bin"
    torch.save(state, path)
    report = load_model(build_model(tiny_args()), str(path), verbose=False)
    assert sorted(report.missing) == sorted(k for k in model.state_dict() if k.startswith("target.nsp"))
    assert report.unexpected == ["extra.weight"]
    assert "missing 4" in report.summary()
    with pytest.raises(UerError, match="does not match"):
        load_model(build_model(tiny_args()), str(path), strict=True, verbose=False)


def test_load_pretrained_ignores_target_keys(tmp_path):
    pretrained = build_model(tiny_args())
    init_weights(pretrained)
    path = tmp_path / "pre.bin"
    save_model(pretrained, str(path))

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            args = tiny_args()
            self.embedding = uer.model.build_embedding(args)
            self.encoder = build_encoder(args)
            self.output_layer_1 = torch.nn.Linear(32, 32)

    clf = Classifier()
    report = load_pretrained(clf, str(path), verbose=False)
    assert report.unexpected == [] and report.missing == []
    assert torch.equal(clf.embedding.word_embedding.weight, pretrained.embedding.word_embedding.weight)


def test_shape_mismatch_names_parameter_and_shapes(tmp_path):
    path = tmp_path / "big.bin"
    save_model(build_model(tiny_args(hidden_size=64, emb_size=64)), str(path))
    with pytest.raises(UerError) as info:
        load_model(build_model(tiny_args()), str(path), verbose=False)
    message = str(info.value)
    assert str(path) in message and "embedding.word_embedding.weight" in message
    assert "[50, 64]" in message and "[50, 32]" in message


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b""])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(UerError, match="junk.bin"):
        load_model(build_model(tiny_args()), str(path))


def test_checkpoint_of_other_objects_refused(tmp_path):
    path = tmp_path / "list.bin"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(UerError, match="list.bin: not a model checkpoint"):
        load_model(build_model(tiny_args()), str(path))
    with pytest.raises(UerError, match="not found"):
        load_model(build_model(tiny_args()), str(tmp_path / "absent.bin"))


def test_unknown_encoders_are_refused_with_the_known_ones():
    with pytest.raises(UerError, match="unknown encoder 'zzz'; known: attn, bert, bilstm"):
        build_encoder(tiny_args(encoder="zzz"))


def test_nonsensical_combinations_are_refused():
    with pytest.raises(UerError, match="--target lm with --encoder bert"):
        build_model(tiny_args(target="lm", encoder="bert"))
    with pytest.raises(UerError, match="--target lm with --encoder lstm --bidirectional"):
        uer.model.check_combination(tiny_args(target="lm", encoder="lstm", bidirectional=True))
    with pytest.raises(UerError, match="bilstm"):
        uer.model.check_combination(tiny_args(target="bilm", encoder="bert"))
    uer.model.check_combination(tiny_args(target="lm", encoder="lstm"))
    uer.model.check_combination(tiny_args(target="mlm", encoder="gpt"))


def test_missing_config_keys_are_named():
    with pytest.raises(UerError, match="hidden_act"):
        build_model(tiny_args(hidden_act=None))
    with pytest.raises(UerError, match="'heads_num' is required by encoder bert"):
        build_model(tiny_args(heads_num=None))
    with pytest.raises(UerError, match="labels_num"):
        build_model(tiny_args(target="cls"))


CONFIG_TABLE = {
    "bert_base_config": (768, 3072, 768, "gelu", 12, 12, 0.1),
    "bert_large_config": (1024, 4096, 1024, "gelu", 16, 24, 0.1),
    "bert_small_config": (512, 2048, 512, "gelu", 8, 6, 0.1),
    "bert_tiny_config": (384, 1536, 384, "gelu", 6, 3, 0.1),
    "albert_base_config": (128, 3072, 768, "relu", 12, 12, 0.0),
    "albert_large_config": (128, 4096, 1024, "relu", 16, 24, 0.0),
    "albert_xlarge_config": (128, 8192, 2048, "relu", 16, 24, 0.0),
    "albert_xxlarge_config": (128, 16384, 4096, "relu", 16, 12, 0.0),
    "google_config": (768, 3072, 768, "gelu", 12, 12, 0.1),
}


@pytest.mark.parametrize("name", sorted(CONFIG_TABLE))
def test_shipped_transformer_configs(name):
    with open(os.path.join(REPO, "models", f"{name}.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    keys = ("emb_size", "feedforward_size", "hidden_size", "hidden_act", "heads_num",
            "layers_num", "dropout")
    assert tuple(config[key] for key in keys) == CONFIG_TABLE[name]
    assert config["hidden_size"] % config["heads_num"] == 0


def test_bert_tiny_config_builds(tmp_path):
    args = model_args(os.path.join(REPO, "models", "bert_tiny_config.json"), vocab=VOCAB)
    model = build_model(args)
    assert len(model.encoder.transformer) == 3
    assert model.encoder.transformer[0].feed_forward.linear_1.weight.shape == (1536, 384)
