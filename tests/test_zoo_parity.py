"""UER-py parity for the rnn/cnn zoo: checkpoints written by UER-py 2020 load into our models
(strict: every key and shape) and reproduce its embedding output, encoder output and loss_info.
The reference files live in ../shared/data/uer_reference (see its README)."""
import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from uer.checkpoint import load_model
from uer.model import build_model, model_args
from uer.vocab import Vocab

CASES = {
    "lstm_lm": ("micro_rnn.json", "lstm", "lm"),
    "gru_lm": ("micro_rnn.json", "gru", "lm"),
    "gatedcnn_lm": ("micro_gatedcnn.json", "gatedcnn", "lm"),
    "bilstm_bilm": ("micro_rnn.json", "bilstm", "bilm"),
}


@pytest.fixture(scope="module")
def zh_vocab():
    return Vocab.from_file(shared_path("vocab", "google_zh_vocab.txt"))


def _reference(name):
    with open(shared_path("uer_reference", f"{name}.json"), encoding="utf-8") as handle:
        meta = json.load(handle)
    arrays = {part: np.load(shared_path("uer_reference", f"{name}.{part}.npy"))
              for part in ("embedding_output", "encoder_output")}
    return meta, arrays


@pytest.mark.parametrize("name", sorted(CASES))
def test_uer_checkpoint_reproduces_outputs(name, zh_vocab):
    config, encoder, target = CASES[name]
    meta, expected = _reference(name)
    assert meta["cli"][meta["cli"].index("--encoder") + 1] == encoder
    args = model_args(shared_path("uer_reference", config), zh_vocab,
                      embedding="word", encoder=encoder, target=target)
    model = build_model(args)
    load_model(model, shared_path("uer_reference", f"{name}.bin"), strict=True, verbose=False)
    model.eval()

    src = torch.tensor(meta["src"])
    seg = torch.tensor(meta["seg"])
    if target == "bilm":
        tgt = tuple(torch.tensor(t) for t in meta["tgt"])
    else:
        tgt = torch.tensor(meta["tgt"])
    with torch.no_grad():
        emb = model.embedding(src, seg)
        hidden = model.encoder(emb, seg)
        loss_info = model.target(hidden, tgt)

    assert emb.shape == expected["embedding_output"].shape
    assert hidden.shape == expected["encoder_output"].shape
    assert np.abs(emb.numpy() - expected["embedding_output"]).max() < 1e-4
    assert np.abs(hidden.numpy() - expected["encoder_output"]).max() < 1e-4

    reference = meta["loss_info"]
    assert len(loss_info) == len(reference)
    # Losses first, then counts: counts must agree exactly, losses to 1e-4 relative.
    losses = 2 if target == "bilm" else 1
    for i, (ours, theirs) in enumerate(zip(loss_info, reference)):
        if i < losses:
            assert float(ours) == pytest.approx(theirs, rel=1e-4)
        else:
            assert round(float(ours)) == round(theirs)
            assert float(ours) == pytest.approx(theirs, abs=1e-3)


def test_bilstm_halves_are_directional(zh_vocab):
    """The bilstm checkpoint's forward half ignores later tokens, its backward half earlier ones."""
    args = model_args(shared_path("uer_reference", "micro_rnn.json"), zh_vocab,
                      embedding="word", encoder="bilstm", target="bilm")
    model = build_model(args)
    load_model(model, shared_path("uer_reference", "bilstm_bilm.bin"), strict=True, verbose=False)
    model.eval()
    src = torch.randint(104, len(zh_vocab), (1, 12))
    changed = src.clone()
    changed[0, 6] = 104 if src[0, 6] != 104 else 105
    seg = torch.ones_like(src)
    with torch.no_grad():
        before = model.encoder(model.embedding(src, seg), seg)
        after = model.encoder(model.embedding(changed, seg), seg)
    half = before.size(-1) // 2
    assert torch.allclose(before[0, :6, :half], after[0, :6, :half])
    assert not torch.allclose(before[0, 6:, :half], after[0, 6:, :half])
    assert torch.allclose(before[0, 7:, half:], after[0, 7:, half:])
    assert not torch.allclose(before[0, :7, half:], after[0, :7, half:])
