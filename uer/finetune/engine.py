"""The fine-tuning loop and batched prediction, shared by every task.

A task object provides:
- ``collate(examples) -> dict`` of tensors (padded to the longest example of the batch);
- ``loss(model, batch) -> scalar tensor``;
- ``forward(model, batch) -> tensor [B, ...]`` (what prediction collects);
- ``evaluate(engine, examples, detailed) -> float``, higher is better (it prints its metrics);
- optionally ``train_batches(examples, batch_size, rng)`` (default: reshuffled every epoch,
  batches of similar lengths; see ``batching.shuffled_batches``).
"""
import sys

import numpy as np
import torch
from tqdm import tqdm

from uer.checkpoint import load_model, save_model, unwrap
from uer.finetune.batching import length_sorted_batches, shuffled_batches
from uer.finetune.runtime import Runtime
from uer.optim import build_optimizer, build_scheduler


class Engine:
    """Runs ``model`` for ``task`` with the options in ``args`` (batch_size, learning_rate,
    warmup, epochs_num, report_steps, seed, fp16, output_model_path)."""

    def __init__(self, args, task, model, runtime=None):
        self.args = args
        self.task = task
        self.runtime = runtime or Runtime(args)
        self.model = self.runtime.wrap(model)

    # --- training ----------------------------------------------------------------------
    def train_batches(self, examples, rng):
        make = getattr(self.task, "train_batches", None)
        if make is not None:
            return make(examples, self.args.batch_size, rng)
        return shuffled_batches(examples, self.args.batch_size, rng)

    def fit(self, train_examples, dev_examples, test_examples=None):
        """Train for --epochs_num epochs; after each, evaluate on dev and keep the best model at
        --output_model_path (the first epoch is always kept, so a model exists even if the
        metric never moves). Then evaluate the best model on the test examples, if any.
        Returns the best dev score."""
        args, task, model, runtime = self.args, self.task, self.model, self.runtime
        rng = np.random.default_rng(args.seed)
        steps_per_epoch = len(self.train_batches(train_examples, np.random.default_rng(0)))
        total_steps = max(1, steps_per_epoch * args.epochs_num)
        optimizer = build_optimizer(unwrap(model), args.learning_rate)
        scheduler = build_scheduler(optimizer, total_steps, args.warmup)
        print(f"Batch size:  {args.batch_size}")
        print(f"The number of training instances: {len(train_examples)}")
        print("Start training.")
        sys.stdout.flush()
        best = None
        for epoch in range(1, args.epochs_num + 1):
            model.train()
            batches = self.train_batches(train_examples, rng)
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
                    print(f"Epoch id: {epoch}, Training steps: {step}, "
                          f"Avg loss: {loss_sum.item() / args.report_steps:.3f}", flush=True)
                    loss_sum.zero_()
            progress.close()
            score = task.evaluate(self, dev_examples, detailed=False)
            if best is None or score > best:
                best = score
                save_model(unwrap(model), args.output_model_path)
        if test_examples:
            load_model(unwrap(model), args.output_model_path, strict=True, verbose=False)
            print("Test set evaluation.")
            task.evaluate(self, test_examples, detailed=True)
        return best

    # --- prediction --------------------------------------------------------------------
    def predict(self, examples, batch_size=None, forward=None):
        """The task's forward output for every example, in input order, as float32 CPU
        tensors (one per example). Batches are grouped by length to save padding."""
        forward = forward or self.task.forward
        batch_size = batch_size or self.args.batch_size
        outputs = [None] * len(examples)
        self.model.eval()
        with torch.inference_mode(), self.runtime.autocast():
            for indices in length_sorted_batches(examples, batch_size):
                batch = self.runtime.to_device(self.task.collate([examples[i] for i in indices]))
                result = forward(self.model, batch).float().cpu()
                for index, row in zip(indices, result.unbind(0)):
                    outputs[index] = row
        return outputs

    def predict_stacked(self, examples, batch_size=None, forward=None):
        """``predict`` stacked into one tensor [N, ...] (empty input gives an empty tensor)."""
        rows = self.predict(examples, batch_size, forward)
        return torch.stack(rows) if rows else torch.zeros(0)

