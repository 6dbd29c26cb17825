"""Helper for tests against the UER-py reference checkpoints in shared/data/uer_reference.

``load_reference(name)`` -> ``ReferenceCase`` with ``args`` (config + cli model options + vocab),
the batch (``src``, ``seg``, ``tgt`` as tensors; ``tgt`` is a pair for bert/albert/bilm) and the
expected outputs. Tests are skipped when the shared data is absent (conftest.shared_path)."""
import json
from dataclasses import dataclass

import numpy as np
import torch

from conftest import shared_path
from uer.model import model_args
from uer.vocab import Vocab

PAIR_TARGETS = {"bert", "albert", "bilm"}
FLAG_OPTIONS = {"factorized_embedding_parameterization", "parameter_sharing", "bidirectional",
                "tie_weights"}
MODEL_OPTIONS = {"embedding", "encoder", "target"} | FLAG_OPTIONS

_vocab_cache = {}


@dataclass
class ReferenceCase:
    name: str
    args: object
    checkpoint: str
    src: torch.Tensor
    seg: torch.Tensor
    tgt: object
    loss_info: list
    embedding_output: np.ndarray
    encoder_output: np.ndarray


def parse_cli(cli):
    """UER-py's command line as a dict: ``--flag`` -> True, ``--key value`` -> value."""
    options, index = {}, 0
    while index < len(cli):
        key = cli[index][2:]
        if index + 1 < len(cli) and not cli[index + 1].startswith("--"):
            options[key] = cli[index + 1]
            index += 2
        else:
            options[key] = True
            index += 1
    return options


def load_reference(name):
    folder = shared_path("uer_reference")
    with open(f"{folder}/{name}.json", encoding="utf-8") as handle:
        record = json.load(handle)
    cli = parse_cli(record["cli"])
    with open(f"{folder}/{cli['config_path']}", encoding="utf-8") as handle:
        config = json.load(handle)
    vocab_path = shared_path("vocab", cli["vocab_path"])
    if vocab_path not in _vocab_cache:
        _vocab_cache[vocab_path] = Vocab.from_file(vocab_path)
    overrides = {key: value for key, value in cli.items() if key in MODEL_OPTIONS}
    args = model_args(config, vocab=_vocab_cache[vocab_path], **overrides)
    tgt = record["tgt"]
    if args.target in PAIR_TARGETS:
        tgt = (torch.tensor(tgt[0]), torch.tensor(tgt[1]))
    else:
        tgt = torch.tensor(tgt)
    return ReferenceCase(
        name=name, args=args, checkpoint=f"{folder}/{name}.bin",
        src=torch.tensor(record["src"]), seg=torch.tensor(record["seg"]), tgt=tgt,
        loss_info=record["loss_info"],
        embedding_output=np.load(f"{folder}/{name}.embedding_output.npy"),
        encoder_output=np.load(f"{folder}/{name}.encoder_output.npy"))
