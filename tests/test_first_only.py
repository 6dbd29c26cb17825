""""first" pooling runs the last transformer layer for the [CLS] row alone: the logits and the
gradients must equal the full computation's."""
import pytest
import torch

from uer.finetune.heads import Classifier, MultiTaskClassifier
from uer.model import model_args
from uer.vocab import Vocab

CONFIG = dict(emb_size=32, hidden_size=32, feedforward_size=64, heads_num=4, layers_num=2,
              dropout=0.0, hidden_act="gelu")
VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])


def batch():
    torch.manual_seed(5)
    src = torch.randint(5, 45, (4, 9))
    seg = torch.ones_like(src)
    seg[1, 6:], seg[2, 4:] = 0, 0
    seg[3, 5:] = 2
    return src.masked_fill(seg == 0, 0), seg


def classifier(pooling, encoder="bert", **overrides):
    args = model_args(dict(CONFIG, **overrides), VOCAB, embedding="bert", encoder=encoder,
                      pooling=pooling)
    torch.manual_seed(0)
    return Classifier(args, 3)


@pytest.mark.parametrize("overrides", [{}, {"parameter_sharing": True},
                                       {"factorized_embedding_parameterization": True,
                                        "emb_size": 16}])
def test_first_pooling_skips_work_but_not_results(overrides):
    model = classifier("first", **overrides)
    src, seg = batch()
    calls = []
    model.encoder.register_forward_hook(lambda m, i, out: calls.append(out.shape))
    logits = model(src, seg)
    assert calls == [torch.Size([4, 1, 32])]  # only the [CLS] row left the last layer
    logits.sum().backward()
    fast_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model.zero_grad()
    model.encoder.__class__ = type("Plain", (model.encoder.__class__,),
                                   {"can_compute_row_subset": False})
    reference = model(src, seg)
    reference.sum().backward()
    assert torch.allclose(logits, reference, atol=1e-6)
    for name, param in model.named_parameters():
        if name in fast_grads:
            assert torch.allclose(fast_grads[name], param.grad, atol=1e-6), name
    assert set(fast_grads) == {n for n, p in model.named_parameters() if p.grad is not None}


def test_other_poolings_and_causal_encoders_keep_every_position():
    src, seg = batch()
    for model in (classifier("mean"), classifier("first", encoder="gpt")):
        shapes = []
        model.encoder.register_forward_hook(lambda m, i, out: shapes.append(out.shape))
        model(src, seg)
        assert shapes == [torch.Size([4, 9, 32])]


def test_multi_task_heads_use_the_same_shortcut():
    args = model_args(dict(CONFIG), VOCAB, embedding="bert", encoder="bert", pooling="first")
    torch.manual_seed(0)
    model = MultiTaskClassifier(args, [2, 3]).eval()
    src, seg = batch()
    fast = model(src, seg, 1)
    full = model.encoder(model.embedding(src, seg), seg)[:, 0]
    expected = model.output_layers_2[1](torch.tanh(model.output_layers_1[1](full)))
    assert torch.allclose(fast, expected, atol=1e-6)


@pytest.mark.parametrize("target", ["bert", "albert", "mlm"])
def test_mlm_losses_compute_only_the_rows_they_read_with_the_same_gradients(target):
    from uer.model import build_model

    args = model_args(dict(CONFIG), VOCAB, embedding="bert", encoder="bert", target=target)
    torch.manual_seed(0)
    model = build_model(args)
    src, seg = batch()
    tgt_mlm = torch.zeros_like(src)
    tgt_mlm[0, 3], tgt_mlm[1, 1], tgt_mlm[1, 4], tgt_mlm[3, 7] = 7, 8, 9, 10
    tgt = tgt_mlm if target == "mlm" else (tgt_mlm, torch.tensor([0, 1, 1, 0]))
    rows_seen = []
    model.encoder.layer(1).register_forward_pre_hook(
        lambda module, inputs, kwargs: rows_seen.append(kwargs.get("queries")), with_kwargs=True)
    fast = model(src, tgt, seg)
    sum(fast[:2] if target != "mlm" else fast[:1]).backward()
    fast_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    # bert/albert read [CLS] and the masked rows (at most 3 per row), mlm at most 2 per row.
    assert rows_seen[0].shape == (4, 3 if target != "mlm" else 2)

    model.zero_grad()
    output = model.encoder(model.embedding(src, seg), seg)  # every row, no shortcut
    slow = model.target(output, tgt)
    sum(slow[:2] if target != "mlm" else slow[:1]).backward()
    for got, expected in zip(fast, slow):
        assert torch.allclose(torch.as_tensor(got), torch.as_tensor(expected), atol=1e-6)
    for name, param in model.named_parameters():
        if param.grad is not None:
            assert torch.allclose(fast_grads[name], param.grad, atol=1e-6), name
