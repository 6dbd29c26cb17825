"""Inference shortcuts of the transformer encoder: padding rows left out of every layer
(``real_only``), no attention mask for a batch without padding, and the buffers reused without
autograd. Each must leave the outputs at real positions as the plain computation gives them."""
import pytest
import torch

from uer.encoders import bert as bert_encoder
from uer.finetune.heads import Classifier
from uer.finetune.tasks.cmrc import MachineReadingComprehension
from uer.finetune.tasks.ner import NerTagger
from uer.layers.residual import add_linear
from uer.model import model_args
from uer.vocab import Vocab

CONFIG = dict(emb_size=32, hidden_size=32, feedforward_size=64, heads_num=4, layers_num=3,
              dropout=0.1, hidden_act="gelu")
VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])


def batch(lengths=(9, 6, 4, 2), width=9):
    torch.manual_seed(5)
    src = torch.randint(5, 45, (len(lengths), width))
    seg = torch.zeros_like(src)
    for row, length in enumerate(lengths):
        seg[row, :length] = 1
        seg[row, length // 2:length] = 2 if length > 3 else 1
    return src.masked_fill(seg == 0, 0), seg


def build(model_class, *extra, **overrides):
    args = model_args(dict(CONFIG, **overrides), VOCAB, embedding="bert", encoder="bert",
                      pooling=overrides.pop("pooling", "first"))
    torch.manual_seed(0)
    model = model_class(args, *extra)
    model.eval()
    return model


def encode(model, src, seg, real_only):
    with torch.inference_mode():
        return model.encoder(model.embedding(src, seg), seg, real_only=real_only)


@pytest.mark.parametrize("overrides", [{}, {"parameter_sharing": True},
                                       {"factorized_embedding_parameterization": True,
                                        "emb_size": 16}])
def test_packed_rows_equal_the_padded_computation_at_real_positions(overrides):
    model = build(NerTagger, 5, **overrides)
    src, seg = batch()
    real = (seg > 0).unsqueeze(-1)
    packed = encode(model, src, seg, real_only=True)
    plain = encode(model, src, seg, real_only=False)
    assert packed.shape == plain.shape == (4, 9, 32)
    torch.testing.assert_close(packed * real, plain * real, rtol=1e-5, atol=1e-5)
    assert bool((packed[~real.squeeze(-1)] == 0).all())  # the padding rows were skipped
    assert bool((plain[~real.squeeze(-1)] != 0).any())  # ... and are computed otherwise


def test_packing_is_skipped_when_little_is_padding_or_autograd_is_on(monkeypatch):
    model = build(NerTagger, 5)
    src, seg = batch(lengths=(9, 9, 9, 8))  # 1 of 36 rows is padding: under the threshold
    out = encode(model, src, seg, real_only=True)
    assert bool((out[3, 8] != 0).any())
    monkeypatch.setattr(bert_encoder, "PACK_MIN_PADDING", 0.0)
    assert bool((encode(model, src, seg, real_only=True)[3, 8] == 0).all())
    src, seg = batch()
    with torch.enable_grad():  # training computes every row (and keeps UER-py's numbers)
        out = model.encoder(model.embedding(src, seg), seg, real_only=True)
    assert bool((out[3, 5] != 0).any())


def test_a_batch_without_padding_runs_without_mask_and_gives_the_masked_result():
    model = build(NerTagger, 5)
    src, seg = batch(lengths=(9, 9, 9, 9))
    with torch.no_grad():
        emb = model.embedding(src, seg)
        assert model.encoder._mask(seg, emb) is None
        unmasked = model.encoder(emb, seg)
    with torch.enable_grad():  # the masked road (mask of zeros), with autograd
        masked = model.encoder(emb, seg)
    torch.testing.assert_close(unmasked, masked.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("autocast", [False, True])
def test_buffers_reused_without_autograd_give_the_same_numbers(autocast):
    """In-place residual sums, GELU and LayerNorm rescale under no_grad: the autograd forward's
    numbers (the matmul accumulating into the residual changes the rounding order only). Under
    bf16 autocast the residual keeps the wider dtype and nothing is accumulated: bit for bit."""
    model = build(NerTagger, 5)
    src, seg = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with torch.enable_grad():
            reference = model(src, seg)
        with torch.no_grad():
            fast = model.encoder(model.embedding(src, seg), seg)
            fast = model.output_layer(fast)
    assert fast.dtype == reference.dtype
    if autocast:
        assert torch.equal(fast, reference.detach())
    else:
        torch.testing.assert_close(fast, reference.detach(), rtol=1e-5, atol=1e-6)


def test_add_linear_accumulates_into_a_given_up_buffer_only_without_autograd(linear_backend):
    linear_backend("mkl")  # the oneDNN road fuses the sum into a new tensor instead (below)
    torch.manual_seed(1)
    linear = torch.nn.Linear(6, 4)
    x, h = torch.randn(3, 5, 4), torch.randn(3, 5, 6)
    expected = x + linear(h)
    with torch.no_grad():
        kept = x.clone()
        assert add_linear(kept, h, linear) is not kept and torch.equal(kept, x)  # not given up
        given = x.clone()
        out = add_linear(given, h, linear, overwrite=True)
        assert out is given
        torch.testing.assert_close(out, expected.detach(), rtol=1e-6, atol=1e-6)
    given = x.clone()
    out = add_linear(given, h, linear, overwrite=True)  # autograd on: a new tensor, x intact
    assert out is not given and torch.equal(given, x) and out.requires_grad


def test_add_linear_on_onednn_leaves_its_input_alone(linear_backend):
    linear_backend("onednn")
    torch.manual_seed(1)
    linear = torch.nn.Linear(6, 4)
    x, h = torch.randn(3, 5, 4), torch.randn(3, 5, 6)
    with torch.no_grad():
        given = x.clone()
        out = add_linear(given, h, linear, overwrite=True)
        assert out is not given and torch.equal(given, x)
        torch.testing.assert_close(out, x + linear(h), rtol=1e-5, atol=1e-5)


def test_task_models_read_real_positions_through_the_packed_road(monkeypatch):
    src, seg = batch()
    calls = []
    original = bert_encoder.BertEncoder._forward_packed

    def spy(self, *args):
        calls.append(args[0].shape)
        return original(self, *args)

    monkeypatch.setattr(bert_encoder.BertEncoder, "_forward_packed", spy)
    real = (seg > 0).unsqueeze(-1)
    for model in (build(NerTagger, 5), build(MachineReadingComprehension),
                  build(Classifier, 3, pooling="mean")):
        with torch.inference_mode():
            fast = model(src, seg)
        monkeypatch.setattr(bert_encoder, "PACK_MIN_PADDING", 2.0)  # never pack
        with torch.inference_mode():
            plain = model(src, seg)
        monkeypatch.setattr(bert_encoder, "PACK_MIN_PADDING", 0.05)
        if fast.dim() == 3:  # per-position outputs: compare at real positions
            fast, plain = fast * real, plain * real
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    assert len(calls) == 3


@pytest.mark.parametrize("real_only", [False, True])
def test_inference_leaves_the_callers_embedding_intact(real_only):
    model = build(NerTagger, 5)
    src, seg = batch()
    with torch.no_grad():
        emb = model.embedding(src, seg)
        before = emb.clone()
        model.encoder(emb, seg, real_only=real_only)
    assert torch.equal(emb, before)


@pytest.mark.parametrize("read", ["real", "rows"])
def test_row_counts_rounded_for_onednn_leave_the_read_rows_and_zeros_elsewhere(monkeypatch, read):
    """The packed road rounds its row counts up to the linears' multiple (8 here) with filler
    rows; they are computed, then zeroed: the output is the unrounded one."""
    from uer.layers.transformer import TransformerLayer

    model = build(NerTagger, 5)
    src, seg = batch()  # 21 real rows of 36; with rows: 10 passage rows (seg == 2)
    counts = []
    original = TransformerLayer.forward_packed

    def spy(self, packed, rows, mask, keep=None):
        counts.append((packed.size(0), None if keep is None else int(keep.sum())))
        return original(self, packed, rows, mask, keep)

    monkeypatch.setattr(TransformerLayer, "forward_packed", spy)
    wanted = (seg > 0) if read == "real" else (seg == 2)

    def run():
        counts.clear()
        with torch.inference_mode():
            emb = model.embedding(src, seg)
            if read == "real":
                return model.encoder(emb, seg, real_only=True), list(counts)
            return model.encoder(emb, seg, rows=seg == 2), list(counts)

    monkeypatch.setattr(bert_encoder, "preferred_row_multiple", lambda: 1)
    exact, exact_counts = run()
    monkeypatch.setattr(bert_encoder, "preferred_row_multiple", lambda: 8)
    rounded, rounded_counts = run()
    assert exact_counts[0][0] == 21 and rounded_counts[0][0] == 24
    if read == "rows":
        assert exact_counts[-1][1] == int(wanted.sum()) == 10 and rounded_counts[-1][1] == 16
    torch.testing.assert_close(rounded, exact, rtol=1e-5, atol=1e-5)
    assert bool((rounded[~wanted] == 0).all()) and bool((rounded[wanted] != 0).any())
