"""The fine-tuning loop and batched prediction, shared by every task.

The task side of the contract is ``uer.finetune.task.Task`` (read its docstring first): the
engine trains on the tasks' model inputs, predicts per-example outputs and hands them to the
task's ``score``.
"""
import sys
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from uer.checkpoint import load_model, save_model, unwrap
from uer.finetune.runtime import Runtime
from uer.logging_sinks import RunSinks
from uer.optim import build_optimizer, build_scheduler
from uer.outputs import save_or_rescue


class Engine:
    """Runs ``model`` for ``task`` with the options in ``args`` (batch_size, learning_rate,
    warmup, epochs_num, report_steps, seed, fp16, output_model_path)."""

    def __init__(self, args, task, model, runtime=None):
        self.args = args
        self.task = task
        self.runtime = runtime or Runtime(args)
        self.model = self.runtime.wrap(model)

    # --- training ----------------------------------------------------------------------
    def model_inputs(self, examples):
        """Every model input of ``examples``, flattened in order."""
        return [item for example in examples for item in self.task.inputs(example)]

    def train_batches(self, inputs, rng):
        return self.task.train_batches(inputs, self.args.batch_size, rng)

    def fit(self, train_examples, dev_examples, test_examples=None):
        """Train for --epochs_num epochs; after each, evaluate on dev and keep the best model at
        --output_model_path (the first epoch is always kept, so a model exists even if the
        metric never moves). Then evaluate the best model on the test examples, if any.
        Returns the best dev score."""
        args, task, model, runtime = self.args, self.task, self.model, self.runtime
        rng = np.random.default_rng(args.seed)
        train_inputs = self.model_inputs(train_examples)
        steps_per_epoch = len(self.train_batches(train_inputs, np.random.default_rng(0)))
        total_steps = max(1, steps_per_epoch * args.epochs_num)
        optimizer = build_optimizer(unwrap(model), args.learning_rate)
        scheduler = build_scheduler(optimizer, total_steps, args.warmup)
        print(f"Batch size:  {args.batch_size}")
        print(f"The number of training instances: {len(train_inputs)}")
        print("Start training.")
        sys.stdout.flush()
        best = None
        sinks = RunSinks(args)  # --log_path, --tensorboard_dir (uer.logging_sinks)
        for epoch in range(1, args.epochs_num + 1):
            model.train()
            batches = self.train_batches(train_inputs, rng)
            loss_sum = torch.zeros((), device=runtime.device)
            progress = tqdm(batches, desc=f"Epoch {epoch}", unit="batch", file=sys.stderr,
                            disable=None, leave=False)
            for step, examples in enumerate(progress, 1):
                batch = runtime.to_device(task.collate(examples))
                with runtime.autocast():
                    loss = task.loss(model, batch)
                runtime.backward_and_step(loss, optimizer, scheduler)
                loss_sum += loss.detach().float()
                if step % args.report_steps == 0:
                    progress.clear()
                    sinks.finetune_report(
                        (epoch - 1) * steps_per_epoch + step,
                        f"Epoch id: {epoch}, Training steps: {step}, "
                        f"Avg loss: {loss_sum.item() / args.report_steps:.3f}",
                        loss_sum.item() / args.report_steps, optimizer.param_groups[0]["lr"])
                    loss_sum.zero_()
            progress.close()
            score = sinks.evaluated(epoch * steps_per_epoch, task.metric_name,
                                    lambda: self.evaluate(dev_examples, detailed=False))
            if best is None or score > best:
                best = score
                save_or_rescue(partial(save_model, unwrap(model), args=args, task=task), args.output_model_path)
        if test_examples:
            load_model(unwrap(model), args.output_model_path, strict=True, verbose=False)
            print("Test set evaluation.")
            sinks.evaluated(total_steps, task.metric_name,
                            lambda: self.evaluate(test_examples, detailed=True), prefix="test")
        sinks.close()
        return best

    # --- prediction --------------------------------------------------------------------
    def evaluate(self, examples, detailed=False):
        """The task's score of the current model on ``examples`` (it prints its metrics)."""
        return self.task.score(examples, self.predict(examples), detailed)

    def predict_inputs(self, inputs, batch_size=None, forward=None):
        """The task's forward output for every model input, in input order, on the CPU (float
        outputs as float32), each trimmed to ``task.output_length(input)``. Batches are grouped
        by length to save padding."""
        forward = forward or self.task.forward
        batch_size = batch_size or self.args.batch_size
        outputs = [None] * len(inputs)
        self.model.eval()
        with torch.inference_mode(), self.runtime.autocast():
            for indices in self.task.predict_batches(inputs, batch_size):
                chunk = [inputs[i] for i in indices]
                result = forward(self.model, self.runtime.to_device(self.task.collate(chunk)))
                result = result.float().cpu() if result.is_floating_point() else result.cpu()
                for index, item, row in zip(indices, chunk, result.unbind(0)):
                    length = self.task.output_length(item)
                    outputs[index] = row if length is None else row[:length]
        return outputs

    def predict(self, examples, batch_size=None, forward=None):
        """One result per example, in order: ``task.combine(example, outputs of its inputs)``
        (by default the output of its single input)."""
        inputs, owners = [], []
        for position, example in enumerate(examples):
            for item in self.task.inputs(example):
                inputs.append(item)
                owners.append(position)
        outputs = self.predict_inputs(inputs, batch_size, forward)
        grouped = [[] for _ in examples]
        for owner, output in zip(owners, outputs):
            grouped[owner].append(output)
        return [self.task.combine(example, group) for example, group in zip(examples, grouped)]

    def predict_stacked(self, examples, batch_size=None, forward=None):
        """``predict`` stacked into one tensor [N, ...] (empty input gives an empty tensor)."""
        rows = self.predict(examples, batch_size, forward)
        return torch.stack(rows) if rows else torch.zeros(0)
