"""Tiny vocabulary, config and models for the tests of the model utilities in scripts/."""
import json

import torch

from uer.checkpoint import init_weights, save_model
from uer.model import build_model, model_args
from uer.vocab import Vocab

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过")
TINY = {"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "hidden_act": "gelu",
        "heads_num": 2, "layers_num": 2, "dropout": 0.0}


def write_vocab(path, tokens=None):
    tokens = SPECIALS + CHARS if tokens is None else tokens
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def write_tiny_config(path, **overrides):
    path.write_text(json.dumps(dict(TINY, **overrides)), encoding="utf-8")
    return str(path)


def tiny_model(vocab_path, target="bert", seed=0, **overrides):
    torch.manual_seed(seed)
    args = model_args(dict(TINY, **overrides), Vocab.from_file(vocab_path), target=target)
    for key, value in overrides.items():
        setattr(args, key, value)
    model = build_model(args)
    init_weights(model)
    return model.eval()


def save_tiny(path, vocab_path, target="bert", seed=0, **overrides):
    model = tiny_model(vocab_path, target, seed, **overrides)
    save_model(model, str(path))
    return str(path), model
