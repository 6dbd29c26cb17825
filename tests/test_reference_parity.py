"""UER-py checkpoints loaded into our transformer models reproduce UER-py's outputs and losses."""
import numpy as np
import pytest
import torch

from reference_case import load_reference
from uer.checkpoint import load_model
from uer.model import build_model

CASES = ["bert_bert", "gpt_lm", "albert"]


@pytest.mark.parametrize("name", CASES)
def test_reference_checkpoint_parity(name):
    case = load_reference(name)
    model = build_model(case.args).eval()
    report = load_model(model, case.checkpoint, verbose=False)
    assert report.missing == [] and report.unexpected == []
    with torch.no_grad():
        emb = model.embedding(case.src, case.seg)
        out = model.encoder(emb, case.seg)
        loss_info = model.target(out, case.tgt)
    assert np.abs(emb.numpy() - case.embedding_output).max() < 1e-4
    assert np.abs(out.numpy() - case.encoder_output).max() < 1e-4
    assert len(loss_info) == len(case.loss_info)
    for got, expected in zip(loss_info, case.loss_info):
        if float(expected).is_integer():  # correct counts (and an integral denominator)
            assert float(got) == pytest.approx(expected, abs=1e-6)
        else:
            assert float(got) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_model_forward_equals_parts_on_reference(name):
    """model(src, tgt, seg) takes the masked-rows shortcut in the last layer (bert, albert)."""
    case = load_reference(name)
    model = build_model(case.args).eval()
    load_model(model, case.checkpoint, verbose=False)
    with torch.no_grad():
        whole = model(case.src, case.tgt, case.seg)
    assert len(whole) == len(case.loss_info)
    for got, expected in zip(whole, case.loss_info):
        assert float(got) == pytest.approx(expected, rel=1e-4, abs=1e-6)
