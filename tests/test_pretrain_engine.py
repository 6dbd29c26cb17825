"""The pre-training engine on known batches: report lines, accumulation, schedule, precision,
checkpoint naming (uer/trainer.py, uer/report.py, uer/amp.py)."""
import os
import re

import pytest
import torch

from pretrain_helpers import (SlicedLoader, accumulating_loader_factory, api_args, assert_same_state,
                              fixed_batches,
                              crashing_loader_factory, fixed_loader_factory, state_of)
from uer.amp import cpu_has_native_bf16
from uer.errors import UerError
from uer.model import build_model
from uer.checkpoint import init_weights
from uer.report import Reporter, total_loss
from uer.trainer import split_batch, train

BERT_LINE = re.compile(r"^\| +\d+/ +\d+ steps\| +\d+\.\d\d tokens/s\| loss +\d+\.\d\d"
                       r"\| loss_mlm: \d+\.\d{3}\| loss_nsp: \d+\.\d{3}\| acc_mlm: \d\.\d{3}"
                       r"\| acc_nsp: \d\.\d{3}$", re.MULTILINE)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_report_line_matches_uer_format_exactly():
    clock = FakeClock()
    reporter = Reporter("bert", total_steps=10, clock=clock)
    # two micro-batches of 4 instances x 8 tokens; 6 masked tokens each
    for correct_mlm, correct_nsp in ((3, 2), (0, 3)):
        reporter.add((torch.tensor(9.0), torch.tensor(0.5), torch.tensor(correct_mlm),
                      torch.tensor(correct_nsp), torch.tensor(6.0)), 32, 4)
    clock.now = 0.5
    line = reporter.line(10)
    assert line == ("|       10/      10 steps|   128.00 tokens/s| loss    9.50| loss_mlm: 9.000"
                    "| loss_nsp: 0.500| acc_mlm: 0.250| acc_nsp: 0.625")


@pytest.mark.parametrize("target,outputs,expected", [
    ("mlm", (2.0, 3, 4.0), "| loss    2.00| acc: 0.750"),
    ("lm", (1.5, 1, 4.0), "| loss    1.50| acc: 0.250"),
    ("albert", (2.0, 1.0, 1, 1, 2.0), "| loss    3.00| loss_mlm: 2.000| loss_sop: 1.000"
                                      "| acc_mlm: 0.500| acc_sop: 0.500"),
    ("bilm", (1.0, 2.0, 1, 2, 4.0), "| loss    3.00| loss_forward 1.000| loss_backward 2.000"
                                    "| acc_forward: 0.250| acc_backward: 0.500"),
    ("cls", (0.5, 1), "| loss    0.50| acc: 0.500"),
])
def test_report_line_per_target(target, outputs, expected):
    clock = FakeClock()
    reporter = Reporter(target, total_steps=1, world_size=2, clock=clock)
    reporter.add(outputs, 10, 2)
    clock.now = 1.0
    assert reporter.line(1) == "|        1/       1 steps|    20.00 tokens/s" + expected


def test_total_loss_sums_the_target_losses_and_checks_arity():
    assert total_loss("bert", (1.0, 2.0, 0, 0, 1.0)) == 3.0
    assert total_loss("bilm", (1.0, 0.5, 0, 0, 1.0)) == 1.5
    assert total_loss("mlm", (4.0, 0, 1.0)) == 4.0
    with pytest.raises(ValueError, match="expected 3"):
        total_loss("mlm", (1.0, 2.0))


def test_split_batch_follows_the_loader_order():
    a, b, c, d = (torch.full((1,), i) for i in range(4))
    assert split_batch("bert", (a, b, c, d)) == (a, (b, c), d)
    assert split_batch("bilm", (a, b, c, d)) == (a, (b, c), d)
    assert split_batch("mlm", (a, b, c)) == (a, b, c)


def _fresh_model(args, seed=3):
    torch.manual_seed(seed)
    model = build_model(args)
    init_weights(model)
    return model


def test_cpu_run_reports_saves_checkpoints_and_lowers_the_loss(tmp_path, capsys):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 12, "--report_steps", 4,
                               "--save_checkpoint_steps", 5, "--batch_size", 4,
                               "--learning_rate", 3e-3, "--warmup", 0.0])
    model = train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    out = capsys.readouterr().out
    lines = BERT_LINE.findall(out)
    assert len(lines) == 3, out
    assert lines[-1].startswith("|       12/      12 steps|")
    losses = [float(re.search(r"loss +(\d+\.\d+)", line).group(1)) for line in lines]
    assert losses[-1] < losses[0]
    assert sorted(os.listdir(tmp_path)) == ["model.bin", "model.bin-10", "model.bin-10.json",
                                            "model.bin-5", "model.bin-5.json", "model.bin.json",
                                            "model.bin.state"]
    assert_same_state(state_of(tmp_path / "model.bin"), model.state_dict(), atol=0)
    assert "Using CPU mode for training." in out and "Vocabulary size:  60" in out


def test_accumulation_matches_one_big_batch(tmp_path):
    """2 micro-batches of 4 with --accumulation_steps 2 == 1 batch of 8 (dropout off); the
    schedule is counted in optimizer updates, so both runs see the same learning rates."""
    base = ["--target", "bert", "--report_steps", 100, "--save_checkpoint_steps", 100,
            "--learning_rate", 1e-3, "--warmup", 0.5]
    big = api_args(tmp_path / "big", base + ["--total_steps", 4, "--batch_size", 8], dropout=0.0)
    small = api_args(tmp_path / "acc", base + ["--total_steps", 8, "--batch_size", 4,
                                               "--accumulation_steps", 2], dropout=0.0)
    train(big, model=_fresh_model(big), loader_factory=accumulating_loader_factory)
    train(small, model=_fresh_model(small), loader_factory=accumulating_loader_factory)
    start = _fresh_model(big).state_dict()
    end = state_of(tmp_path / "big" / "model.bin")
    assert not torch.allclose(start["encoder.transformer.0.feed_forward.linear_1.weight"],
                              end["encoder.transformer.0.feed_forward.linear_1.weight"])
    assert_same_state(end, state_of(tmp_path / "acc" / "model.bin"))


def test_fp16_on_cpu_runs_bf16_autocast(tmp_path, capsys):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 4, "--report_steps", 2,
                               "--batch_size", 4, "--fp16", "--amp_dtype", "bfloat16"])
    train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    out = capsys.readouterr().out
    assert "precision: bf16 autocast" in out
    assert len(BERT_LINE.findall(out)) == 2
    # weights stay fp32 (master weights), as apex's O1/O2 with master weights
    assert state_of(tmp_path / "model.bin")["target.mlm_linear_2.weight"].dtype == torch.float32


def test_fp16_on_cpu_without_native_bf16_falls_back_to_fp32(tmp_path, capsys):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 1, "--batch_size", 2,
                               "--fp16"])
    train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    out = capsys.readouterr().out
    if cpu_has_native_bf16():
        assert "precision: bf16 autocast" in out
    else:
        assert "no native bf16 instructions" in out and "precision: fp32" in out


def test_fp16_opt_level_o0_means_fp32(tmp_path, capsys):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 1, "--batch_size", 2,
                               "--fp16", "--fp16_opt_level", "O0"])
    train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    assert "precision: fp32" in capsys.readouterr().out


def test_gradient_clipping_limits_the_first_update(tmp_path):
    """With a tiny --max_grad_norm the first Adam step is unchanged in size (Adam normalises),
    so check the clipped gradient instead: run one step and compare against no clipping."""
    common = ["--target", "bert", "--total_steps", 1, "--batch_size", 4, "--warmup", 0.0,
              "--learning_rate", 1e-3]
    clipped = api_args(tmp_path / "c", common + ["--max_grad_norm", 1e-8], dropout=0.0)
    free = api_args(tmp_path / "f", common, dropout=0.0)
    train(clipped, model=_fresh_model(clipped), loader_factory=fixed_loader_factory)
    train(free, model=_fresh_model(free), loader_factory=fixed_loader_factory)
    a, b = state_of(tmp_path / "c" / "model.bin"), state_of(tmp_path / "f" / "model.bin")
    start = _fresh_model(free).state_dict()
    key = "encoder.transformer.1.feed_forward.linear_2.weight"
    # Adam's first step is lr * g / (|g| + eps): with |g| ~ 1e-8 << eps the step shrinks.
    assert (a[key] - start[key]).abs().max() < 0.5 * (b[key] - start[key]).abs().max()


@pytest.mark.parametrize("option,value", [("total_steps", 0), ("report_steps", 0),
                                          ("accumulation_steps", 0), ("warmup", 1.5)])
def test_bad_step_options_are_refused(tmp_path, option, value):
    args = api_args(tmp_path, [f"--{option}", value])
    with pytest.raises(UerError, match=f"--{option}"):
        train(args, loader_factory=fixed_loader_factory)


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 2, "--report_steps", 1,
                               "--batch_size", 2])
    model = _fresh_model(args)
    with torch.no_grad():
        model.embedding.word_embedding.weight.fill_(float("nan"))
    with pytest.raises(UerError, match="not finite at step 1"):
        train(args, model=model, loader_factory=fixed_loader_factory)
    assert not (tmp_path / "model.bin").exists()


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, capsys):
    """A run that dies at step 5 resumes from the step-3 state (optimizer, schedule, data
    position, dropout generators) and ends with the same weights as an uninterrupted run."""
    common = ["--target", "bert", "--total_steps", 6, "--save_checkpoint_steps", 3,
              "--report_steps", 3, "--batch_size", 4, "--learning_rate", 1e-3]
    crashed = api_args(tmp_path / "crash", common)  # dropout 0.1: generators matter
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(crashed, model=_fresh_model(crashed), loader_factory=crashing_loader_factory)
    assert sorted(os.listdir(tmp_path / "crash")) == ["model.bin-3", "model.bin-3.json",
                                                      "model.bin.state"]
    resumed = api_args(tmp_path / "crash", common + ["--resume"])
    train(resumed, loader_factory=fixed_loader_factory, model=_fresh_model(resumed, seed=99))
    assert "Resuming after step 3" in capsys.readouterr().out
    straight = api_args(tmp_path / "straight", common)
    train(straight, model=_fresh_model(straight), loader_factory=fixed_loader_factory)
    assert_same_state(state_of(tmp_path / "crash" / "model.bin"),
                      state_of(tmp_path / "straight" / "model.bin"), atol=1e-6)


def test_resume_refuses_a_different_run(tmp_path):
    args = api_args(tmp_path, ["--target", "bert", "--total_steps", 2, "--batch_size", 2])
    train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    other = api_args(tmp_path, ["--target", "bert", "--total_steps", 4, "--batch_size", 2,
                                "--resume"])
    with pytest.raises(UerError, match="saved with --total_steps 2, this run has 4"):
        train(other, loader_factory=fixed_loader_factory)
    missing = api_args(tmp_path / "none", ["--resume"])
    with pytest.raises(UerError, match="--resume: .*model.bin.state not found"):
        train(missing, loader_factory=fixed_loader_factory)


def _padded_loader_factory(args, rank, world_size):
    """Fixed bert batches whose rows end in padding (longest real row: 9 of 12)."""
    batches = []
    for src, tgt, is_next, seg in fixed_batches(4, args.batch_size):
        seg = seg.clone()
        for row in range(src.size(0)):
            seg[row, 9 - row % 3:] = 0
        src = src.masked_fill(seg == 0, 0)
        batches.append((src, tgt.masked_fill(seg == 0, 0), is_next, seg))
    return SlicedLoader(batches, rank, world_size)


@pytest.mark.parametrize("encoder", ["bert", "gpt"])
def test_trimmed_padding_trains_exactly_like_full_width(tmp_path, capsys, encoder):
    base = ["--target", "bert", "--encoder", encoder, "--total_steps", 4, "--report_steps", 4,
            "--save_checkpoint_steps", 100, "--batch_size", 4, "--learning_rate", 1e-3]
    trimmed = api_args(tmp_path / "trim", base, dropout=0.0)
    full = api_args(tmp_path / "full", base, dropout=0.0)
    full_model = _fresh_model(full)
    full_model.encoder.padding_invariant = False  # forces the full 12 columns
    widths = {"trim": [], "full": []}
    trimmed_model = _fresh_model(trimmed)
    for name, model in (("trim", trimmed_model), ("full", full_model)):
        model.embedding.register_forward_pre_hook(
            lambda module, inputs, name=name: widths[name].append(inputs[0].size(1)))
    train(trimmed, model=trimmed_model, loader_factory=_padded_loader_factory)
    trimmed_out = capsys.readouterr().out
    train(full, model=full_model, loader_factory=_padded_loader_factory)
    assert widths == {"trim": [9] * 4, "full": [12] * 4}
    assert_same_state(state_of(tmp_path / "trim" / "model.bin"),
                      state_of(tmp_path / "full" / "model.bin"))
    assert "tokens/s" in trimmed_out and BERT_LINE.search(trimmed_out)


@pytest.mark.parametrize("option,value,message", [
    ("--learning_rate", 1e-3, "--learning_rate 2e-05, this run has 0.001"),
    ("--batch_size", 4, "--batch_size 2, this run has 4"),
    ("--adam_bias_correction", None, "--adam_bias_correction False, this run has True"),
    ("--seed", 8, "--seed 7, this run has 8")])
def test_resume_refuses_an_option_that_changes_the_run(tmp_path, option, value, message):
    common = ["--target", "bert", "--total_steps", 2, "--batch_size", 2]
    args = api_args(tmp_path, common)
    train(args, model=_fresh_model(args), loader_factory=fixed_loader_factory)
    changed = common + [option] + ([] if value is None else [value]) + ["--resume"]
    with pytest.raises(UerError, match=f"saved with {message}; resume with the same options"):
        train(api_args(tmp_path, changed), loader_factory=fixed_loader_factory)


def test_resume_applies_report_steps_with_a_notice(tmp_path, capsys):
    common = ["--target", "bert", "--total_steps", 6, "--save_checkpoint_steps", 3,
              "--batch_size", 2, "--report_steps", 3]
    args = api_args(tmp_path, common)
    with pytest.raises(RuntimeError, match="simulated crash"):  # after the step-3 state
        train(args, model=_fresh_model(args), loader_factory=crashing_loader_factory)
    capsys.readouterr()
    resumed = api_args(tmp_path, common[:-1] + [1, "--resume"])
    train(resumed, loader_factory=fixed_loader_factory)
    out = capsys.readouterr().out
    assert "Notice: --resume with --report_steps 1 (the run was saved with 3)" in out
    assert "Resuming after step 3" in out
    assert all(f"       {step}/       6 steps" in out for step in (4, 5, 6))
