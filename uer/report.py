"""Per-target bookkeeping for the pre-training report line, in UER-py's exact format.

Each target returns a tuple (SPEC §4.4); the target class declares a ``TargetMetrics`` (its
``metrics`` attribute) that names the fields, says which losses are summed into the training
loss, and which counts form each accuracy."""
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TargetMetrics:
    fields: tuple          # names of the forward() outputs, in order
    losses: tuple          # summed into the training loss
    # (report name, correct field, denominator field or "instances" for one per example)
    accuracies: tuple
    line: str              # format of the part after "| loss %7.2f"


def metrics_of(target):
    """The ``TargetMetrics`` that the target class registered as ``target`` declares."""
    from uer.targets import str2target  # the targets import this module

    return str2target[target].metrics


def total_loss(target, outputs):
    """The training loss of one forward pass: the sum of the target's losses."""
    spec = metrics_of(target)
    if len(outputs) != len(spec.fields):
        raise ValueError(f"target {target} returned {len(outputs)} values, expected "
                         f"{len(spec.fields)} ({', '.join(spec.fields)})")
    named = dict(zip(spec.fields, outputs))
    loss = named[spec.losses[0]]
    for name in spec.losses[1:]:
        loss = loss + named[name]
    return loss


class Reporter:
    """Accumulates a window of micro-batches and formats UER-py's report line."""

    def __init__(self, target, total_steps, world_size=1, clock=time.perf_counter):
        self.spec = metrics_of(target)
        self.total_steps = total_steps
        self.world_size = world_size
        self.clock = clock
        self.reset()

    def reset(self):
        self.start = self.clock()
        self.steps = 0
        self.tokens = 0
        self.instances = 0
        self.sums = {name: 0.0 for name in self.spec.fields}
        self.last_loss = None
        self.last_values = None

    def add(self, outputs, batch_tokens, batch_instances):
        """outputs: the target's tuple (tensors or numbers); counts are summed on the host once
        per report window, so the hot loop needs no device synchronisation."""
        self.steps += 1
        self.tokens += batch_tokens
        self.instances += batch_instances
        for name, value in zip(self.spec.fields, outputs):
            value = value.detach().float() if hasattr(value, "detach") else float(value)
            self.sums[name] = self.sums[name] + value

    def values(self):
        """The window's losses (mean per micro-batch) and accuracies by report name; sets
        ``last_loss`` (their summed loss)."""
        values = {name: float(total) for name, total in self.sums.items()}
        steps = max(1, self.steps)
        report = {name: values[name] / steps for name in self.spec.losses}
        self.last_loss = sum(report.values())
        for name, correct, denominator in self.spec.accuracies:
            denom = self.instances if denominator == "instances" else values[denominator]
            report[name] = values[correct] / denom if denom > 0 else 0.0
        return report

    def line(self, step):
        report = self.values()
        loss = self.last_loss
        self.last_values = report
        elapsed = max(self.clock() - self.start, 1e-9)
        tokens_per_s = self.tokens * self.world_size / elapsed
        head = "| {:8d}/{:8d} steps| {:8.2f} tokens/s| loss {:7.2f}".format(
            step, self.total_steps, tokens_per_s, loss)
        return head + self.spec.line.format(**report)
