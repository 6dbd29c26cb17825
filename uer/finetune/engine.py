"""The fine-tuning loop and batched prediction, shared by every task.

The task side of the contract is ``uer.finetune.task.Task`` (read its docstring first): the
engine trains on the tasks' model inputs, predicts per-example outputs and hands them to the
task's ``score``.
"""
import math
import sys
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from uer.checkpoint import load_model, save_model, unwrap
from uer.finetune.runtime import Runtime
from uer.heap import HeapTrimmer
from uer.logging_sinks import RunSinks
from uer.optim import build_scheduler, optimizer_from_args
from uer.outputs import save_or_rescue
from uer.step import OptimizerStep


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
        """The global batches (every rank's share of each: ``rank_share``)."""
        return self.task.train_batches(inputs, self.args.batch_size * self.runtime.world_size,
                                       rng)

    def fit(self, train_examples, dev_examples, test_examples=None):
        """Train for --epochs_num epochs; after each, evaluate on dev and keep the best model at
        --output_model_path (the first epoch is always kept, so a model exists even if the
        metric never moves). Then evaluate the best model on the test examples, if any.
        Returns the best dev score.

        Under DDP the batches are those of one process with batch_size x world_size, each
        rank trains on its slice of every batch, and rank 0 alone evaluates, saves and prints."""
        args, task, model, runtime = self.args, self.task, self.model, self.runtime
        rng = np.random.default_rng(args.seed)
        if runtime.distributed:
            torch.manual_seed(args.seed + runtime.rank)  # each rank its own dropout masks
        train_inputs = self.model_inputs(train_examples)
        accumulation = getattr(args, "accumulation_steps", 1)
        batches_per_epoch = len(self.train_batches(train_inputs, np.random.default_rng(0)))
        updates_per_epoch = math.ceil(batches_per_epoch / accumulation)
        total_steps = max(1, updates_per_epoch * args.epochs_num)  # counted in updates
        optimizer = optimizer_from_args(unwrap(model), args)
        scheduler = build_scheduler(optimizer, total_steps, args.warmup)
        stepper = OptimizerStep(model, optimizer, scheduler, runtime.precision, accumulation,
                                getattr(args, "max_grad_norm", None), runtime.distributed)
        say = print if runtime.is_main else (lambda *a, **k: None)
        say(f"Batch size:  {args.batch_size}")
        if runtime.distributed:
            say(f"Processes: {runtime.world_size} (global batch size "
                f"{args.batch_size * runtime.world_size})")
        say(f"The number of training instances: {len(train_inputs)}")
        say("Start training.")
        sys.stdout.flush()
        best = None
        # --log_path, --tensorboard_dir (uer.logging_sinks): rank 0 only
        sinks = RunSinks(args) if runtime.is_main else None
        trimmer = HeapTrimmer()  # batches of many lengths fragment the heap (uer/heap.py)
        for epoch in range(1, args.epochs_num + 1):
            model.train()
            batches = self.train_batches(train_inputs, rng)
            loss_sum = torch.zeros((), device=runtime.device)
            progress = tqdm(batches, desc=f"Epoch {epoch}", unit="batch", file=sys.stderr,
                            disable=None if runtime.is_main else True, leave=False)
            for step, examples in enumerate(progress, 1):
                trimmer.step()
                examples, weight = rank_share(examples, runtime.rank, runtime.world_size)
                batch = runtime.to_device(task.collate(examples))
                update_now = step % accumulation == 0 or step == len(batches)
                loss, _ = stepper.micro_batch(lambda: (weighted(task.loss(model, batch), weight),
                                                       None), update_now)
                loss_sum += loss.detach().float()
                if step % args.report_steps == 0:
                    average = runtime.mean_over_ranks(loss_sum).item() / args.report_steps
                    progress.clear()
                    line = f"Epoch id: {epoch}, Training steps: {step}, Avg loss: {average:.3f}"
                    if sinks is not None:
                        sinks.finetune_report((epoch - 1) * batches_per_epoch + step, line,
                                              average, optimizer.param_groups[0]["lr"])
                    loss_sum.zero_()
            progress.close()
            if runtime.is_main:
                score = sinks.evaluated(epoch * batches_per_epoch, task.metric_name,
                                        lambda: self.evaluate(dev_examples, detailed=False))
                if best is None or score > best:
                    best = score
                    save_or_rescue(partial(save_model, unwrap(model), args=args, task=task),
                                   args.output_model_path)
            runtime.barrier()  # the others wait while rank 0 evaluates and saves
        if test_examples and runtime.is_main:
            load_model(unwrap(model), args.output_model_path, strict=True, verbose=False)
            print("Test set evaluation.")
            sinks.evaluated(args.epochs_num * batches_per_epoch, task.metric_name,
                            lambda: self.evaluate(test_examples, detailed=True), prefix="test")
        if sinks is not None:
            sinks.close()
        best = runtime.from_main(best)
        runtime.close()
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
        model = unwrap(self.model)  # DDP's forward would wait for the other ranks
        model.eval()
        trimmer = HeapTrimmer()  # batches of many lengths fragment the heap (uer/heap.py)
        with torch.inference_mode(), self.runtime.autocast():
            for indices in self.task.predict_batches(inputs, batch_size):
                trimmer.step()
                chunk = [inputs[i] for i in indices]
                result = forward(model, self.runtime.to_device(self.task.collate(chunk)))
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


def weighted(loss, weight):
    return loss if weight == 1.0 else loss * weight


def rank_share(examples, rank, world_size):
    """This rank's slice of a global batch, and the weight of its mean loss so that the ranks'
    average (DDP averages gradients) is the whole batch's mean (exact for per-example means).
    A rank left without examples runs the first one with weight 0 (every rank must take part
    in the all-reduce)."""
    if world_size == 1:
        return examples, 1.0
    shares = np.array_split(np.arange(len(examples)), world_size)
    mine = [examples[i] for i in shares[rank]]
    if not mine:
        return examples[:1], 0.0
    return mine, len(mine) * world_size / len(examples)
