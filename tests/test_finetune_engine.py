"""The engine: model selection, atomic saving, seed, mixed precision, prediction order."""
import argparse
import os

import pytest
import torch

from _finetune_data import TINY_CONFIG
from uer.finetune.batching import Example
from uer.finetune.engine import Engine
from uer.finetune.heads import Classifier
from uer.finetune.tasks.classifier import ClassificationTask
from uer.model import model_args
from uer.seed import set_seed
from uer.vocab import Vocab

VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])


def engine_args(tmp_path, **overrides):
    values = dict(batch_size=4, learning_rate=1e-3, warmup=0.1, epochs_num=3, report_steps=2,
                  seed=3, fp16=False, fp16_opt_level="O1",
                  output_model_path=str(tmp_path / "best.bin"))
    values.update(overrides)
    return argparse.Namespace(**values)


def examples(count=12):
    return [Example([2] + [5 + (i * 7 + j) % 40 for j in range(i % 5 + 1)] + [3], i % 5 + 3,
                    label=i % 2) for i in range(count)]


class NeverImproves(ClassificationTask):
    def __init__(self):
        super().__init__(2)
        self.calls = 0

    def score(self, examples, outputs, detailed=False):
        self.calls += 1
        return 0.0


def new_model(seed=0):
    set_seed(seed)
    return Classifier(model_args(dict(TINY_CONFIG), VOCAB, pooling="mean"), 2)


def test_first_epoch_is_saved_when_dev_never_improves(tmp_path, capsys):
    task = NeverImproves()
    Engine(engine_args(tmp_path), task, new_model()).fit(examples(), examples(4), examples(4))
    assert task.calls == 4  # three epochs on dev, then the test set
    assert os.path.isfile(tmp_path / "best.bin")
    assert not [name for name in os.listdir(tmp_path) if "tmp" in name]
    out = capsys.readouterr().out
    assert out.count("Epoch id: 1, Training steps: 2, Avg loss: ") == 1
    assert "Epoch id: 3, Training steps: 2, " in out and "Training steps: 3," not in out
    assert "Test set evaluation." in out


def test_same_seed_same_weights(tmp_path):
    states = []
    for run in range(2):
        args = engine_args(tmp_path, output_model_path=str(tmp_path / f"m{run}.bin"))
        Engine(args, ClassificationTask(2), new_model()).fit(examples(), examples(4))
        states.append(torch.load(args.output_model_path, weights_only=True))
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_fp16_trains_with_bf16_autocast_on_cpu(tmp_path):
    # amp_dtype forces bf16 even on CPUs without native bf16 (where --fp16 alone stays fp32).
    engine = Engine(engine_args(tmp_path, fp16=True, amp_dtype="bfloat16", epochs_num=1),
                    ClassificationTask(2), new_model())
    assert engine.runtime.precision.dtype == torch.bfloat16
    engine.fit(examples(), examples(4))
    logits = engine.predict_stacked(examples(6))
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_predict_keeps_input_order_despite_length_batching(tmp_path):
    engine = Engine(engine_args(tmp_path, batch_size=3), ClassificationTask(2), new_model())
    data = examples(10)
    together = engine.predict_stacked(data)
    one_by_one = torch.cat([engine.predict_stacked([ex]) for ex in data])
    assert torch.allclose(together, one_by_one, atol=1e-5)
    assert not torch.is_inference_mode_enabled()


def test_classifier_head_sits_on_other_encoders_and_albert_options():
    src = torch.tensor([[2, 5, 6, 3, 0, 0], [2, 5, 6, 7, 8, 3]])
    seg = (src > 0).long()
    variants = [dict(encoder="gpt"), dict(encoder="lstm", embedding="word"),
                dict(encoder="gatedcnn", kernel_size=3, block_size=2),
                dict(factorized_embedding_parameterization=True, parameter_sharing=True,
                     emb_size=16)]
    for variant in variants:
        config = dict(TINY_CONFIG, **variant)
        model = Classifier(model_args(config, VOCAB, pooling="last"), 3).eval()
        with torch.no_grad():
            assert model(src, seg).shape == (2, 3), variant
        keys = set(model.state_dict())
        assert {"output_layer_1.weight", "output_layer_2.bias"} <= keys
    assert "encoder.transformer.self_attn.final_linear.weight" in keys  # shared layer
    assert "encoder.linear.weight" in keys  # factorized embedding


@pytest.mark.parametrize("script", ["run_classifier", "run_mt_classifier", "run_dbqa",
                                    "inference.run_classifier_infer", "pretrain"])
def test_every_training_script_takes_amp_dtype(script):
    import importlib

    parser = importlib.import_module(script).build_parser()
    assert "--amp_dtype {auto,float16,bfloat16}" in parser.format_help()
    assert parser.get_default("amp_dtype") == "auto"


class WindowedEcho(ClassificationTask):
    """A toy task: each example becomes windows of at most 3 tokens; forward echoes the ids
    (padded), so the engine's cutting, trimming and regrouping can be checked exactly."""

    def inputs(self, example):
        return [Example(example.ids[i:i + 3], 0) for i in range(0, len(example.ids), 3)]

    def collate(self, inputs):
        longest = max(len(item) for item in inputs)
        return {"src": torch.tensor([item.ids + [0] * (longest - len(item)) for item in inputs])}

    def forward(self, model, batch):
        return batch["src"] * 10

    def output_length(self, model_input):
        return len(model_input.ids)

    def combine(self, example, outputs):
        return torch.cat(outputs).tolist()


def test_several_inputs_per_example_are_trimmed_and_regrouped_in_order(tmp_path):
    engine = Engine(engine_args(tmp_path, batch_size=2), WindowedEcho(2), new_model())
    data = [Example(list(range(1, n + 1)), 0) for n in (7, 1, 4, 3, 9)]
    results = engine.predict(data)
    assert results == [[10 * t for t in ex.ids] for ex in data]
    assert len(engine.model_inputs(data)) == 3 + 1 + 2 + 1 + 3
    # Integer outputs stay integers; nothing is left in inference mode.
    assert engine.predict_inputs([Example([5], 0)])[0].dtype == torch.long
