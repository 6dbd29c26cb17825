"""Held-out view of pre-training (pretrain.py --dev_dataset_path).

A dataset built by preprocess.py from text the model does not train on is scored every
--dev_steps steps: the target's losses and accuracies on the same instances with the same
masks each time (a dynamically masked dataset is masked once, token by token, with a fixed
seed, whatever the training run's --span_masking or --whole_word_masking), so the numbers are
comparable across a run and across runs. Rank 0 evaluates the unwrapped model
without autograd; training resumes in train mode."""
import contextlib

import numpy as np
import torch

from uer.errors import UerError
from uer.padding_trim import trim_padding
from uer.report import Reporter

DEV_MASK_SEED = 20201
DEV_INSTANCES = 2000  # --dev_instances default  # fixed: every evaluation and every run see the same masks


class HeldOutEvaluator:
    """``evaluate(model, step)`` -> (report line, {name: value}) on up to ``instances``
    instances of ``dataset_path`` (file order)."""

    def __init__(self, args, batch_size, instances, trim=False, precision=None):
        from uer.data.loader import PretrainLoader, check_dataset

        path = args.dev_dataset_path
        check_dataset(path, args.target, getattr(args, "vocab", None))
        loader = PretrainLoader(path, batch_size, vocab=getattr(args, "vocab", None))
        count = min(instances, loader.num_instances)
        self.batches = []
        for number, start in enumerate(range(0, count, batch_size)):
            indices = np.arange(start, min(start + batch_size, count))
            batch = loader.make_batch(indices, np.random.default_rng([DEV_MASK_SEED, number]))
            if batch is not None:
                self.batches.append(batch)
        if not self.batches:
            raise UerError(f"{path}: no instance to evaluate on (--dev_dataset_path)")
        self.instances = count
        self.target = args.target
        self.trim = trim
        self.precision = precision

    @torch.no_grad()
    def evaluate(self, module, step, device):
        from uer.targets import str2target
        from uer.targets.common import split_batch

        fields = str2target[self.target].batch_fields
        reporter = Reporter(self.target, total_steps=step)
        was_training = module.training
        module.eval()
        try:
            for batch in self.batches:
                batch = tuple(tensor.to(device) for tensor in batch)
                src, tgt, seg = split_batch(fields, batch)
                if self.trim:
                    src, tgt, seg = trim_padding(src, tgt, seg)
                with self.autocast():
                    outputs = module(src, tgt, seg)
                reporter.add(outputs, src.numel(), src.size(0))
        finally:
            module.train(was_training)
        values = reporter.values()
        line = "| dev {:8d} steps| {:d} instances| loss {:7.2f}".format(
            step, self.instances, reporter.last_loss) + reporter.spec.line.format(**values)
        return line, dict(values, loss=reporter.last_loss)

    def autocast(self):
        if self.precision is None:
            return contextlib.nullcontext()
        return self.precision.autocast()
