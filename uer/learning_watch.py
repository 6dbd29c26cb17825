"""LearningWatch: what pre-training says about learning itself (rank 0), beside UER-py's
report lines: the held-out evaluation of --dev_dataset_path (uer.heldout) and whether the
masked/next-token accuracy is still at unigram level (uer.unigram_level), under the report
lines, once at the end, and in the final model's sidecar."""
from uer.heldout import DEV_INSTANCES, HeldOutEvaluator
from uer.unigram_level import UnigramBaseline, at_unigram_level, describe, token_label_field


class LearningWatch:
    """What the report lines add about learning itself (rank 0): the held-out evaluation of
    --dev_dataset_path (uer.heldout) and whether the masked/next-token accuracy is still at
    unigram level (uer.unigram_level), under the report lines and once at the end."""

    def __init__(self, args, is_main, trim, precision):
        from uer.targets import str2target

        target_class = str2target[args.target]
        found = token_label_field(target_class)
        self.field_index = target_class.batch_fields.index(found[0]) if found else None
        self.accuracy_name = found[1] if found else None
        self.vocab = getattr(args, "vocab", None)
        self.is_main = is_main
        self.window = UnigramBaseline()
        self.last = None  # (source, accuracy, share, token) of the latest measurement
        self.evaluator = None
        self.last_dev_step = None
        self.dev_steps = getattr(args, "dev_steps", None) or args.report_steps
        if is_main and getattr(args, "dev_dataset_path", None):
            self.evaluator = HeldOutEvaluator(args, args.batch_size,
                                              getattr(args, "dev_instances", None) or DEV_INSTANCES,
                                              trim, precision)
            self.dev_share = UnigramBaseline()
            for batch in self.evaluator.batches:
                if self.field_index is not None:
                    self.dev_share.add(batch[self.field_index])

    def saw(self, batch):
        if self.is_main and self.field_index is not None:
            self.window.add(batch[self.field_index])

    def _token(self, token_id):
        if self.vocab is not None and 0 <= token_id < len(self.vocab):
            return repr(self.vocab.i2w[token_id])
        return f"id {token_id}"

    def _check(self, source, values, baseline, sinks):
        if self.accuracy_name is None or values is None or self.accuracy_name not in values:
            return
        share, token = baseline.share()
        if share is None:
            return
        accuracy = values[self.accuracy_name]
        self.last = (source, accuracy, share, token)
        if at_unigram_level(accuracy, share):
            sinks.write_line(describe(self.accuracy_name, accuracy, share, self._token(token)))

    def reported(self, values, sinks):
        self._check("training", values, self.window, sinks)
        self.window.reset()

    def dev_due(self, step):
        return self.evaluator is not None and step % self.dev_steps == 0

    def evaluate(self, module, step, device, sinks):
        line, values = self.evaluator.evaluate(module, step, device)
        sinks.write_line(line)
        sinks.scalars(step, values, "dev")
        self.last_dev_step = step
        self._check("held-out", values, self.dev_share, sinks)

    def record(self, steps):
        """The sidecar's "learning_check": where the model stood at the end, or None."""
        if self.last is None:
            return None
        source, accuracy, share, _ = self.last
        return {"steps": steps, "measured_on": source, "accuracy": round(accuracy, 4),
                "unigram_guess": round(share, 4),
                "unigram_level": at_unigram_level(accuracy, share)}

    def summary(self, steps, sinks):
        """One line at the end: where the accuracy stands against the unigram guess."""
        if self.last is None:
            return
        source, accuracy, share, token = self.last
        name = self.accuracy_name
        if at_unigram_level(accuracy, share):
            sinks.write_line(
                f"Warning: after {steps} steps the model is still at unigram level ({source} "
                f"{name} {accuracy:.3f}; always predicting {self._token(token)} scores "
                f"{share:.3f}). It has not learned to use context yet, so it has nothing to "
                "transfer to fine-tuning: train longer (README: \"Pre-training that pays off\").")
        else:
            sinks.write_line(f"Learning check: {source} {name} {accuracy:.3f} after {steps} "
                             f"steps, {accuracy / share:.1f}x the unigram guess ({share:.3f}).")
