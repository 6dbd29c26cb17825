"""--compile: the same losses as eager, a bounded number of compilations while batch shapes vary,
and checkpoints without torch.compile's ``_orig_mod.`` prefix.

Most checks use the aot_eager backend (it traces forward and backward as inductor does, without
generating C++), counted by torch's CompileCounterWithBackend; one run uses inductor itself."""
import importlib

import pytest
import torch
import torch._dynamo
from torch._dynamo.testing import CompileCounterWithBackend

from _finetune_data import TINY_CONFIG as FINETUNE_CONFIG
from pretrain_helpers import (FIRST_WORD, SMALL_VOCAB, SlicedLoader, api_args, fixed_batches,
                              state_of)
from uer.checkpoint import unwrap
from uer.finetune.batching import Example
from uer.finetune.engine import Engine
from uer.finetune.heads import Classifier
from uer.finetune.tasks.classifier import ClassificationTask
from uer.model import model_args
from uer.report import total_loss
from uer.seed import set_seed
from uer.trainer import train


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# --- pre-training -------------------------------------------------------------------------
def padded(batches, lengths):
    """Each batch with its rows' tail beyond the batch's length made padding (seg/tgt 0)."""
    out = []
    for batch, length in zip(batches, lengths):
        src, tgt, seg = (t.clone() for t in (batch[0], batch[1], batch[-1]))
        src[:, length:] = 0
        tgt[:, length:] = 0
        seg[:, length:] = 0
        out.append((src, tgt, batch[2], seg) if len(batch) == 4 else (src, tgt, seg))
    return out


def lm_batches(count, batch_size, length, seed=0):
    """lm-target batches: next-token targets, one segment."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        src = torch.randint(FIRST_WORD, len(SMALL_VOCAB), (batch_size, length), generator=gen)
        tgt = torch.cat([src[:, 1:], torch.full((batch_size, 1), SMALL_VOCAB.sep_id)], dim=1)
        batches.append((src, tgt, torch.ones_like(src)))
    return batches


class LossLog:
    """Records every step's total loss (the reporter sees each forward's outputs)."""

    def __init__(self, monkeypatch, target):
        import uer.report

        self.losses = []
        add = uer.report.Reporter.add

        def spy(reporter, outputs, *rest):
            self.losses.append(float(total_loss(target, outputs).detach()))
            return add(reporter, outputs, *rest)

        monkeypatch.setattr(uer.report.Reporter, "add", spy)


def pretrain_run(tmp_path, monkeypatch, name, batches, argv, backend=None, **config):
    log = LossLog(monkeypatch, argv[argv.index("--target") + 1])
    args = api_args(tmp_path / name, ["--total_steps", len(batches), "--report_steps",
                                      len(batches), "--batch_size", batches[0][0].size(0),
                                      "--learning_rate", "1e-3", *argv], dropout=0.0, **config)
    if backend is not None:
        args.compile, args.compile_backend = True, backend
    set_seed(0)
    train(args, loader_factory=lambda *_: SlicedLoader(batches, 0, 1))
    monkeypatch.undo()
    return log.losses, state_of(args.output_model_path)


CASES = {
    "bert": (["--target", "bert"], lambda n, length: fixed_batches(n, 4, length=length), {}),
    "gpt": (["--encoder", "gpt", "--target", "lm"], lambda n, length: lm_batches(n, 4, length),
            {}),
    "lstm": (["--embedding", "word", "--encoder", "lstm", "--target", "lm"],
             lambda n, length: lm_batches(n, 4, length), {}),
}


def test_trim_rounds_the_length_up_to_a_multiple_under_compile():
    from uer.padding_trim import trim_padding

    seg = torch.zeros(2, 24, dtype=torch.long)
    seg[0, :5], seg[1, :11] = 1, 1
    src, tgt = seg * 7, (seg * 3, torch.tensor([0, 1]))
    assert trim_padding(src, tgt, seg)[2].shape == (2, 11)
    cut_src, (cut_tgt, is_next), cut_seg = trim_padding(src, tgt, seg, round_to=8)
    assert cut_src.shape == cut_tgt.shape == cut_seg.shape == (2, 16)
    assert torch.equal(cut_seg, seg[:, :16]) and torch.equal(is_next, tgt[1])
    seg[1, :23] = 1
    assert trim_padding(src, tgt, seg, round_to=8)[2].shape == (2, 24)  # never past the width


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_pretraining_matches_eager_with_varying_lengths(tmp_path, monkeypatch, case):
    argv, make, config = CASES[case]
    # Seven batches of seven different lengths (trimmed to 9..24 columns of 24).
    batches = padded(make(7, 24), [24, 9, 17, 12, 24, 20, 14])
    eager_losses, eager_state = pretrain_run(tmp_path, monkeypatch, "eager", batches, argv,
                                             **config)
    counter = CompileCounterWithBackend("aot_eager")
    losses, state = pretrain_run(tmp_path, monkeypatch, "compiled", batches, argv, counter,
                                 **config)
    assert counter.frame_count > 0  # it did compile
    assert losses == pytest.approx(eager_losses, rel=1e-5, abs=1e-5)
    assert list(state) == list(eager_state)  # no "_orig_mod." prefix
    for key in state:
        assert torch.allclose(state[key], eager_state[key], atol=1e-5), key


def test_pretraining_compiles_a_bounded_number_of_graphs(tmp_path, monkeypatch):
    """One shape vs. 15 different lengths (8 after rounding to multiples of 8): at most one
    recompilation per graph (the one that makes the length dynamic), not one per new shape."""
    argv = ["--target", "bert"]
    fixed = CompileCounterWithBackend("aot_eager")
    pretrain_run(tmp_path, monkeypatch, "fixed", fixed_batches(15, 4, length=64), argv, fixed)
    torch._dynamo.reset()
    varying = CompileCounterWithBackend("aot_eager")
    lengths = [64 - 4 * i for i in range(15)]  # 64..8: the masked columns 2 and 5 stay
    pretrain_run(tmp_path, monkeypatch, "varying", padded(fixed_batches(15, 4, length=64),
                                                          lengths), argv, varying)
    assert 0 < fixed.frame_count < varying.frame_count <= 2 * fixed.frame_count


# --- fine-tuning and inference ------------------------------------------------------------
def finetune_args(tmp_path, name, **overrides):
    import argparse

    values = dict(batch_size=4, learning_rate=1e-3, warmup=0.1, epochs_num=2, report_steps=100,
                  seed=3, fp16=False, fp16_opt_level="O1", compile=False,
                  output_model_path=str(tmp_path / f"{name}.bin"))
    values.update(overrides)
    return argparse.Namespace(**values)


def examples(count, vocab_size):
    # Lengths 3..9 and a last batch of 2 rows: the shapes vary in both dimensions.
    return [Example([2] + [5 + (i * 7 + j) % (vocab_size - 5) for j in range(i % 7 + 1)] + [3],
                    i % 7 + 3, label=i % 2) for i in range(count)]


class LossSpy(ClassificationTask):
    """Records the training losses, and how many graphs the backend had compiled after the
    first step (one static graph set for the training shapes)."""

    def __init__(self, backend=None):
        super().__init__(2)
        self.losses, self.backend, self.first_step_frames = [], backend, None

    def loss(self, model, batch):
        loss = super().loss(model, batch)
        self.losses.append(float(loss.detach()))
        if self.backend is not None and self.first_step_frames is None:
            self.first_step_frames = self.backend.frame_count
        return loss


@pytest.mark.parametrize("encoder", ["bert", "lstm"])
def test_compiled_finetuning_and_prediction_match_eager(tmp_path, encoder):
    from uer.vocab import Vocab

    vocab = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])
    config = dict(FINETUNE_CONFIG, encoder=encoder,
                  **({"embedding": "word"} if encoder == "lstm" else {}))
    train_set, dev_set = examples(18, len(vocab)), examples(7, len(vocab))
    runs = {}
    for name, backend in (("eager", None), ("compiled", CompileCounterWithBackend("aot_eager"))):
        set_seed(0)
        model = Classifier(model_args(dict(config), vocab, pooling="mean"), 2)
        overrides = {"compile": True, "compile_backend": backend} if backend else {}
        task = LossSpy(backend)
        engine = Engine(finetune_args(tmp_path, name, **overrides), task, model)
        engine.fit(train_set, dev_set)
        runs[name] = (task.losses, engine.predict_stacked(dev_set), task,
                      state_of(str(tmp_path / f"{name}.bin")), engine)
    eager, compiled = runs["eager"], runs["compiled"]
    assert compiled[0] == pytest.approx(eager[0], rel=1e-5, abs=1e-5)
    assert torch.allclose(compiled[1], eager[1], atol=1e-5)
    assert list(compiled[3]) == list(eager[3])
    assert unwrap(compiled[4].model) is not compiled[4].model  # it was wrapped
    # 2 epochs x 5 training batches, 3 evaluations x 2 batches; 7 lengths, 3 batch sizes: each
    # graph is compiled static, once more dynamic, and once for evaluation, not once per shape.
    task = compiled[2]
    assert 0 < task.first_step_frames < task.backend.frame_count <= 3 * task.first_step_frames


def test_inductor_compiled_prediction_matches_eager(tmp_path):
    """The default backend once (C++ code generation, the slow one; the aot_eager checks above
    trace the same graphs): a classifier's prediction, one batch shape."""
    from uer.vocab import Vocab

    vocab = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])
    data = [Example([2] + [5 + (i * 3 + j) % 40 for j in range(6)] + [3], 8) for i in range(8)]
    set_seed(0)
    model = Classifier(model_args(dict(FINETUNE_CONFIG), vocab, pooling="first"), 2)
    eager = Engine(finetune_args(tmp_path, "eager"), ClassificationTask(2), model)
    expected = eager.predict_stacked(data)
    compiled = Engine(finetune_args(tmp_path, "inductor", compile=True), ClassificationTask(2),
                      unwrap(eager.model))
    assert compiled.model is not unwrap(compiled.model)
    assert torch.allclose(compiled.predict_stacked(data), expected, atol=1e-5)


TRAINING_SCRIPTS = ["pretrain", "run_classifier", "run_mt_classifier", "run_dbqa", "run_ner",
                    "run_cmrc", "run_c3"]
INFERENCE_SCRIPTS = ["inference.run_classifier_infer", "inference.run_ner_infer",
                     "inference.run_cmrc_infer", "inference.run_c3_infer"]


@pytest.mark.parametrize("script", TRAINING_SCRIPTS + INFERENCE_SCRIPTS)
def test_every_training_and_inference_script_takes_compile(script):
    parser = importlib.import_module(script).build_parser()
    assert "--compile " in parser.format_help()
    assert parser.get_default("compile") is False
    assert parser.get_default("compile_backend") == "inductor"


def test_run_classifier_and_its_inference_with_compile(tmp_path, capsys):
    """The command lines: --compile through run_classifier.py and run_classifier_infer.py."""
    import run_classifier
    from _finetune_data import CUES, FILLER, easy_rows, write_config, write_tsv
    from _scripts_data import SPECIALS, write_vocab
    from inference import run_classifier_infer

    vocab = write_vocab(tmp_path / "vocab.txt", SPECIALS + sorted(set(FILLER + "".join(CUES))))
    config = write_config(tmp_path / "tiny.json")
    train_tsv = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], easy_rows(24, 1))
    dev_tsv = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], easy_rows(8, 2))
    model_path = str(tmp_path / "classifier.bin")
    compile_flags = ["--compile", "--compile_backend", "aot_eager"]
    run_classifier.main(["--vocab_path", vocab, "--config_path", config, "--train_path",
                         train_tsv, "--dev_path", dev_tsv, "--output_model_path", model_path,
                         "--epochs_num", "1", "--batch_size", "8", "--seq_length", "32",
                         *compile_flags])
    keys = list(state_of(model_path))
    assert keys and not [key for key in keys if "_orig_mod" in key]
    prediction = tmp_path / "prediction.tsv"
    run_classifier_infer.main(["--load_model_path", model_path, "--vocab_path", vocab,
                               "--config_path", config, "--test_path", dev_tsv,
                               "--prediction_path", str(prediction), "--labels_num", "2",
                               "--seq_length", "32", *compile_flags])
    assert len(prediction.read_text(encoding="utf-8").splitlines()) == 1 + 8
