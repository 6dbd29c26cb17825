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
                                   {"first_only_capable": False})
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
