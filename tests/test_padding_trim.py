"""Trimming trailing padding columns: exact for the encoders that declare padding_invariant,
and used by the trainer only for them."""
import argparse

import pytest
import torch

from uer.encoders import str2encoder
from uer.padding_trim import can_trim, trim_padding

ALL = ["bert", "gpt", "lstm", "gru", "bilstm", "cnn", "gatedcnn", "attn", "synt", "rcnn", "crnn"]
INVARIANT = {"bert", "gpt", "lstm", "gru", "cnn", "gatedcnn", "attn", "synt", "rcnn", "crnn"}


def encoder(name, bidirectional=False):
    args = argparse.Namespace(emb_size=24, hidden_size=24, layers_num=2, dropout=0.0,
                              kernel_size=3, block_size=2, heads_num=4, feedforward_size=32,
                              seq_length=12, synt_type="dense", hidden_act="gelu",
                              bidirectional=bidirectional, parameter_sharing=False,
                              factorized_embedding_parameterization=False)
    torch.manual_seed(0)
    return str2encoder[name](args).eval()


def outputs_full_and_trimmed(module):
    torch.manual_seed(1)
    emb = torch.randn(3, 12, 24)
    seg = torch.zeros(3, 12, dtype=torch.long)
    seg[0, :7], seg[1, :5], seg[2, :3] = 1, 1, 1  # longest real row: 7 of 12
    with torch.no_grad():
        full = module(emb, seg)
        src, _, seg_t = trim_padding(emb[..., 0].long(), None, seg)
        trimmed = module(emb[:, :seg_t.size(1)].contiguous(), seg_t)
    real = seg[:, :7] > 0
    return full[:, :7][real], trimmed[real]


@pytest.mark.parametrize("name", ALL)
def test_declared_invariance_matches_the_outputs(name):
    module = encoder(name)
    full, trimmed = outputs_full_and_trimmed(module)
    same = torch.allclose(full, trimmed, atol=1e-5, rtol=0)
    declared = bool(getattr(module, "padding_invariant", False))
    assert declared == (name in INVARIANT)
    if declared:
        assert same, f"{name} declares padding_invariant but its outputs change"
    else:
        assert not same, f"{name} reads padding; trimming must change it (else declare it)"


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_a_bidirectional_rnn_is_not_trimmed(name):
    module = encoder(name, bidirectional=True)
    assert not module.padding_invariant
    full, trimmed = outputs_full_and_trimmed(module)
    assert not torch.allclose(full, trimmed, atol=1e-5, rtol=0)


def test_trim_cuts_every_sequence_tensor_and_keeps_the_rest():
    src = torch.arange(24).view(2, 12)
    seg = torch.zeros(2, 12, dtype=torch.long)
    seg[0, :4], seg[1, :9] = 1, 2
    tgt_mlm = torch.ones(2, 12, dtype=torch.long)
    is_next = torch.tensor([0, 1])
    src_t, (mlm_t, next_t), seg_t = trim_padding(src, (tgt_mlm, is_next), seg)
    assert src_t.shape == (2, 9) and mlm_t.shape == (2, 9) and seg_t.shape == (2, 9)
    assert torch.equal(src_t, src[:, :9]) and next_t is is_next
    full = torch.ones(2, 12, dtype=torch.long)
    assert trim_padding(full, full, full)[0] is full  # nothing to cut


def test_can_trim_needs_both_an_invariant_encoder_and_a_known_target():
    model = torch.nn.Module()
    model.encoder = encoder("lstm")
    assert can_trim(model, "lm") and not can_trim(model, "unknown")
    model.encoder = encoder("bilstm")
    assert not can_trim(model, "bilm")
