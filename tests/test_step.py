"""The optimizer step shared by both engines (uer/step.py) and the fine-tuning options it brings."""

import pytest
import torch

import run_classifier
from uer.amp import Precision
from uer.errors import UerError
from uer.optim import build_optimizer, build_scheduler
from uer.step import OptimizerStep


def linear_and_data(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    return model, x, y


def stepper_for(model, accumulation=1, max_grad_norm=0.0, updates=10):
    optimizer = build_optimizer(model, 1e-2)
    scheduler = build_scheduler(optimizer, updates, 0.0)
    return OptimizerStep(model, optimizer, scheduler, Precision(False, "cpu"), accumulation,
                         max_grad_norm)


def mse(model, x, y):
    return lambda: (torch.nn.functional.mse_loss(model(x), y), None)


def test_two_accumulated_halves_make_the_update_of_the_whole_batch():
    whole, x, y = linear_and_data()
    halves, _, _ = linear_and_data()
    one = stepper_for(whole)
    two = stepper_for(halves, accumulation=2)
    one.micro_batch(mse(whole, x, y), update_now=True)
    two.micro_batch(mse(halves, x[:4], y[:4]), update_now=False)
    assert halves.weight.grad is not None  # nothing applied yet
    assert two.scheduler.last_epoch == 0
    two.micro_batch(mse(halves, x[4:], y[4:]), update_now=True)
    assert halves.weight.grad is None and two.scheduler.last_epoch == 1  # schedule in updates
    assert torch.allclose(whole.weight, halves.weight, atol=1e-7)
    assert torch.allclose(whole.bias, halves.bias, atol=1e-7)


def test_max_grad_norm_clips_the_gradient_before_the_update():
    clipped, x, y = linear_and_data()
    by_hand, _, _ = linear_and_data()
    stepper_for(clipped, max_grad_norm=1e-3).micro_batch(mse(clipped, x, y), update_now=True)
    reference = stepper_for(by_hand)
    loss = torch.nn.functional.mse_loss(by_hand(x), y)
    loss.backward()
    norm = torch.cat([p.grad.flatten() for p in by_hand.parameters()]).norm()
    assert norm > 1e-3
    for p in by_hand.parameters():
        p.grad.mul_(1e-3 / (norm + 1e-6))
    reference.update()
    # Adam is nearly scale-invariant, except through eps: compare with a small lr effect.
    assert torch.allclose(clipped.weight, by_hand.weight, atol=1e-6)


def test_resume_state_round_trips_optimizer_scheduler_and_scaler():
    model, x, y = linear_and_data()
    stepper = stepper_for(model)
    stepper.micro_batch(mse(model, x, y), update_now=True)
    state = stepper.state_dict()
    assert set(state) == {"optimizer", "scheduler", "scaler"}
    other = stepper_for(linear_and_data()[0])
    other.load_state_dict(state)
    assert other.scheduler.last_epoch == 1
    assert other.optimizer.state_dict()["state"][0]["step"].item() == 1


def finetune_args(argv):
    return run_classifier.build_parser().parse_args(
        ["--train_path", "t", "--dev_path", "d", *argv])


def test_finetuning_scripts_take_the_step_and_device_options():
    args = finetune_args(["--accumulation_steps", "4", "--max_grad_norm", "1.0",
                          "--adam_bias_correction", "--world_size", "2", "--gpu_ranks", "1",
                          "--backend", "gloo", "--dist_timeout", "30"])
    assert (args.accumulation_steps, args.max_grad_norm, args.adam_bias_correction) == (4, 1.0, True)
    assert (args.world_size, args.gpu_ranks, args.backend, args.dist_timeout) == (2, [1], "gloo", 30)
    defaults = finetune_args([])
    assert (defaults.accumulation_steps, defaults.max_grad_norm) == (1, 0.0)
    assert not defaults.adam_bias_correction


def test_same_help_text_as_pretrain():
    import pretrain

    def helps(parser):
        return {a.dest: a.help for a in parser._actions}

    ours, theirs = helps(run_classifier.build_parser()), helps(pretrain.build_parser())
    for name in ("accumulation_steps", "max_grad_norm", "adam_bias_correction", "world_size",
                 "gpu_ranks", "master_ip", "backend", "dist_timeout"):
        assert ours[name] == theirs[name], name


def test_engine_counts_updates_with_accumulation(tmp_path, monkeypatch):
    from test_finetune_engine import engine_args, examples, new_model
    from uer.finetune.engine import Engine
    from uer.finetune.tasks.classifier import ClassificationTask
    import uer.step

    rates = []  # the learning rate after each update
    original = uer.step.OptimizerStep.update

    def counting(self):
        original(self)
        rates.append(self.scheduler.get_last_lr()[0])

    monkeypatch.setattr(uer.step.OptimizerStep, "update", counting)
    args = engine_args(tmp_path, batch_size=2, epochs_num=2, accumulation_steps=4)
    Engine(args, ClassificationTask(2), new_model()).fit(examples(12), examples(4))
    # 12 examples / batch 2 = 6 micro-batches per epoch -> updates after 4 and 6: 2 per epoch,
    # and the schedule, counted in updates, reaches 0 at the last one.
    assert len(rates) == 4
    assert rates[-1] == 0.0 and rates[0] > 0


@pytest.mark.parametrize("argv,message", [(["--accumulation_steps", "0"], "--accumulation_steps"),
                                          (["--max_grad_norm", "-1"], "--max_grad_norm")])
def test_bad_step_options_are_refused(argv, message):
    from uer.finetune.cli import resolve

    with pytest.raises(UerError, match=message):
        resolve(run_classifier.build_parser(),
                ["--train_path", "t", "--dev_path", "d", "--vocab_path", "v", *argv])
