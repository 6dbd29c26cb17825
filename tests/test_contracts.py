"""Components own their contracts: a target, its instance builder and an encoder defined and
registered here, in the test file alone, go through preprocess.py and pre-training
(uer.trainer.train) with nothing else edited: the loader lays out the batches from the target's
``batch_fields``, the trainer splits them, trims padding and reports from its declarations."""
import os
import re

import numpy as np
import pytest
import torch
from torch import nn

import preprocess
import pretrain
from pretrain_helpers import corpus_slice, state_of, write_config
from uer.data.builders import str2builder
from uer.data.builders._base import InstanceBuilder
from uer.encoders import str2encoder
from uer.errors import UerError
from uer.hparams import EMB_SIZE, HIDDEN_SIZE, Key, read
from uer.report import TargetMetrics
from uer.targets import str2target
from uer.targets.common import sentence_loss, token_prediction_loss
from uer.trainer import train

NAME = "toy_copy"  # target and builder
ENCODER = "toy_tanh"


class ToyCopyBuilder(InstanceBuilder):
    """One instance per line: its first seq_length ids, and whether that count is odd."""

    min_seq_length = 1
    fields = {"n_real": "<u2", "parity": "u1"}

    def feed(self, text):
        ids = self.encode_line(text)[:self.seq_length]
        if ids:
            self.documents += 1
            self.writer.add(ids, (len(ids), len(ids) % 2))

    @classmethod
    def read_fields(cls, out, dataset, indices):
        # Derived at read time: the label of every real position is its own token.
        real = np.arange(out["src"].shape[1])[None, :] < out["b_end"][:, None]
        out["tgt_copy"] = np.where(real, out["src"], 0)
        out["parity"] = np.asarray(dataset.arrays["parity"][indices], dtype=np.int64)


class ToyCopyTarget(nn.Module):
    """Predict each real token from its own position, and the parity of the length from [CLS]."""

    batch_fields = ("src", "tgt_copy", "parity", "seg")
    metrics = TargetMetrics(
        ("loss_copy", "loss_parity", "correct_copy", "correct_parity", "denominator"),
        ("loss_copy", "loss_parity"),
        (("acc_copy", "correct_copy", "denominator"), ("acc_parity", "correct_parity", "instances")),
        "| copy: {acc_copy:3.3f}| parity: {acc_parity:3.3f}")
    padding_invariant = True
    config_keys = (HIDDEN_SIZE,)
    widths_seen = []  # the batch widths forward() received (padding trimmed or not)

    def __init__(self, args, vocab_size):
        super().__init__()
        hidden_size = read(args, self).hidden_size
        self.copy_layer = nn.Linear(hidden_size, vocab_size)
        self.parity_layer = nn.Linear(hidden_size, 2)

    def forward(self, memory_bank, tgt):
        tgt_copy, parity = tgt
        assert tgt_copy.shape == memory_bank.shape[:2] and parity.shape == memory_bank.shape[:1]
        ToyCopyTarget.widths_seen.append(memory_bank.size(1))
        labels = tgt_copy.reshape(-1)
        rows = labels > 0
        hidden = memory_bank.reshape(-1, memory_bank.size(-1))[rows]
        loss_copy, correct_copy, denominator = token_prediction_loss(self.copy_layer(hidden),
                                                                     labels[rows])
        loss_parity, correct_parity = sentence_loss(self.parity_layer(memory_bank[:, 0]), parity)
        return loss_copy, loss_parity, correct_copy, correct_parity, denominator


class ToyTanhEncoder(nn.Module):
    """tanh(linear(emb)) per position, ``toy_depth`` times: sees no other position."""

    causal = True
    padding_invariant = True
    config_keys = (EMB_SIZE, HIDDEN_SIZE, Key("toy_depth", int, minimum=1, default=1))

    def __init__(self, args):
        super().__init__()
        config = read(args, self)
        sizes = [config.emb_size] + [config.hidden_size] * config.toy_depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, emb, seg):
        for layer in self.layers:
            emb = torch.tanh(layer(emb))
        return emb


@pytest.fixture
def toy_components():
    registered = [(str2builder, NAME, ToyCopyBuilder), (str2target, NAME, ToyCopyTarget),
                  (str2encoder, ENCODER, ToyTanhEncoder)]
    for registry, name, component in registered:
        registry.register(name)(component)
    ToyCopyTarget.widths_seen.clear()
    yield
    for registry, name, _ in registered:
        del registry._entries[name]  # other tests see the registries as they were


def toy_dataset(tmp_path, vocab_path, seq_length=48):
    path = str(tmp_path / "toy.dataset")
    preprocess.main(["--corpus_path", corpus_slice("CLUECorpusSmall_bert_sampled.txt", 120),
                     "--vocab_path", vocab_path, "--dataset_path", path, "--target", NAME,
                     "--seq_length", str(seq_length)])
    return path


def test_a_target_and_encoder_defined_in_a_test_file_pretrain(toy_components, tmp_path,
                                                              zh_vocab_path, capsys):
    dataset = toy_dataset(tmp_path, zh_vocab_path)
    output = str(tmp_path / "out" / "toy.bin")
    os.makedirs(os.path.dirname(output))
    args = pretrain.parse_args([
        "--dataset_path", dataset, "--vocab_path", zh_vocab_path, "--output_model_path", output,
        "--config_path", write_config(str(tmp_path), toy_depth=2), "--target", NAME,
        "--encoder", ENCODER, "--embedding", "word", "--total_steps", "60", "--report_steps",
        "20", "--save_checkpoint_steps", "60", "--batch_size", "8", "--learning_rate", "5e-2",
        "--warmup", "0.0"])
    model = train(args)

    out = capsys.readouterr().out
    lines = re.findall(r"^\| +\d+/ +60 steps\| .*\| loss +(\d+\.\d\d)\| copy: (\d\.\d{3})"
                       r"\| parity: (\d\.\d{3})$", out, re.MULTILINE)
    assert len(lines) == 3, out  # the report line is the one the target declared
    first_loss, last_loss = float(lines[0][0]), float(lines[-1][0])
    assert last_loss < first_loss  # it learns: copying a token through tanh layers is easy
    assert float(lines[-1][1]) > float(lines[0][1])
    # Both declared padding_invariant, so the trainer cut the padding of short batches.
    assert min(ToyCopyTarget.widths_seen) < 48 and max(ToyCopyTarget.widths_seen) <= 48
    saved = state_of(output)
    assert {"encoder.layers.0.weight", "encoder.layers.1.weight", "target.copy_layer.weight",
            "target.parity_layer.weight"} <= set(saved)
    assert torch.equal(saved["target.copy_layer.weight"], model.target.copy_layer.weight)


def test_the_toy_contracts_are_checked_like_the_built_in_ones(toy_components, tmp_path,
                                                             zh_vocab_path):
    # The encoder's declared key is checked where the config enters, naming key and file.
    config = write_config(str(tmp_path), toy_depth=0)
    with pytest.raises(UerError, match=re.escape(f"{config}: config key 'toy_depth' must be an "
                                                 f"integer >= 1, got 0 (encoder {ENCODER})")):
        pretrain.parse_args(["--vocab_path", zh_vocab_path, "--output_model_path", "m.bin",
                             "--config_path", config, "--encoder", ENCODER, "--target", NAME])
    # A left-to-right target accepts the toy encoder because it declares itself causal.
    from uer.model import check_combination, model_args

    check_combination(model_args(encoder=ENCODER, target="lm"))
    with pytest.raises(UerError, match=f"use a left-to-right encoder \\(.*{ENCODER}\\)"):
        check_combination(model_args(encoder="bert", target="lm"))
