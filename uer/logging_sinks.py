"""Where training reports go besides the console: a log file, TensorBoard, a progress bar.

- ``--log_path FILE``: every report line and evaluation result is appended to FILE, flushed
  per line (as later UER-py versions allow).
- ``--tensorboard_dir DIR``: scalars by step through ``torch.utils.tensorboard`` (the package
  tensorboard is optional; asking for it without it installed is a one-line error before any
  work). Tags: ``train/loss``, one per target loss and accuracy (``train/loss_mlm``,
  ``train/acc_nsp``, ...), ``train/tokens_per_s``, ``train/learning_rate``; each evaluation
  gives ``dev/<metric>`` (``test/<metric>`` for the test set): the task's selection score under
  its name, plus what its report prints (acc, f1, precision, recall, em, mrr, map, ...).
- Pre-training shows a tqdm bar (step, loss, ETA) on a terminal only (``disable=None``: no bar
  when stderr is not a tty, so CI logs keep UER-py's report lines only).

The training loops call ``RunSinks`` at their print lines only; everything else is here.
"""
import contextlib
import io
import re
import sys

from uer.errors import UerError

# Evaluation lines (uer.finetune.metrics and the tasks' reports) -> scalar names.
_EVAL_PATTERNS = (
    (re.compile(r"^(?:Dataset (\S+): )?Acc\. \(Correct/Total\): ([-\d.]+)"), "acc"),
    (re.compile(r"^Mean Acc\.: ([-\d.]+)"), "mean_acc"),
    (re.compile(r"^Mean Reciprocal Rank: ([-\d.]+)"), "mrr"),
    (re.compile(r"^Mean Average Precision: ([-\d.]+)"), "map"),
)
_CMRC_LINE = re.compile(r"^Avg: ([-\d.]+),F1:([-\d.]+),EM:([-\d.]+)")
_PRF_LINE = re.compile(r"^([-\d.]+), ([-\d.]+), ([-\d.]+)$")
_REPORT_FIELD = re.compile(r"^\s*([A-Za-z_]+):?\s+(\S+)\s*$")


def log_opts(parser):
    parser.add_argument("--log_path", type=str, default=None,
                        help="Also append the report lines and evaluation results to this file.")
    parser.add_argument("--tensorboard_dir", type=str, default=None,
                        help="Write TensorBoard scalars (loss, accuracies, learning rate, "
                             "tokens/s, dev metrics) by step to this folder (needs tensorboard).")


def check_sinks(args):
    """Refuse --tensorboard_dir without tensorboard before any work starts."""
    if getattr(args, "tensorboard_dir", None):
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise UerError("--tensorboard_dir needs the package tensorboard "
                           "(pip install tensorboard)")


def report_fields(line):
    """Numbers of a pre-training report line (UER-py's format) by name: loss, loss_mlm,
    acc_nsp, ..., tokens_per_s."""
    fields = {}
    for part in line.split("|"):
        part = part.strip()
        if part.endswith("tokens/s"):
            fields["tokens_per_s"] = float(part.split()[0])
            continue
        found = _REPORT_FIELD.match(part)
        if found and not part.endswith("steps"):
            try:
                fields[found.group(1)] = float(found.group(2))
            except ValueError:
                pass
    return fields


def evaluation_fields(text):
    """Metrics printed by an evaluation (see _EVAL_PATTERNS) by name."""
    fields, lines = {}, text.splitlines()
    for index, line in enumerate(lines):
        line = line.strip()
        for pattern, name in _EVAL_PATTERNS:
            found = pattern.match(line)
            if found:
                groups = found.groups()
                prefix = f"{groups[0]}/" if len(groups) == 2 and groups[0] else ""
                fields[prefix + name] = float(groups[-1])
        found = _CMRC_LINE.match(line)
        if found:
            fields.update(avg=float(found.group(1)), f1=float(found.group(2)),
                          em=float(found.group(3)))
        found = _PRF_LINE.match(line)
        if found and index and lines[index - 1].startswith("Report precision, recall, and f1"):
            fields.update(precision=float(found.group(1)), recall=float(found.group(2)),
                          f1=float(found.group(3)))
    return fields


def _summary_writer(folder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UerError("--tensorboard_dir needs the package tensorboard "
                       "(pip install tensorboard)") from None
    try:
        return SummaryWriter(log_dir=folder)
    except OSError as err:
        raise UerError(f"{folder}: cannot write TensorBoard events ({err.strerror}) "
                       "(--tensorboard_dir)") from None


class _Tee(io.TextIOBase):
    """A stdout that also keeps what is written."""

    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text):
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


class RunSinks:
    """The log file, TensorBoard writer and progress bar of one training run (rank 0)."""

    def __init__(self, args, total_steps=None, first_step=1, progress=False):
        self.log = None
        self.writer = None
        self.bar = None
        log_path = getattr(args, "log_path", None)
        tensorboard_dir = getattr(args, "tensorboard_dir", None)
        if tensorboard_dir:
            check_sinks(args)
            self.writer = _summary_writer(tensorboard_dir)
        if log_path:
            try:
                self.log = open(log_path, "a", encoding="utf-8", buffering=1)
            except OSError as err:
                raise UerError(f"{log_path}: cannot open the log file ({err.strerror}) "
                               "(--log_path)") from None
        if progress and total_steps:
            from tqdm import tqdm
            self.bar = tqdm(total=total_steps, initial=first_step - 1, unit="step",
                            file=sys.stderr, disable=None, dynamic_ncols=True, leave=False)

    def write_line(self, line):
        """Console and log file (progress bar cleared first so lines stay whole)."""
        if self.bar is not None:
            self.bar.clear()
        print(line, flush=True)
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()

    def scalars(self, step, values, prefix):
        if self.writer is None:
            return
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)
        self.writer.flush()

    # --- pre-training -----------------------------------------------------------------
    def advance(self):
        if self.bar is not None:
            self.bar.update(1)

    def pretrain_report(self, step, line, loss, learning_rate):
        self.write_line(line)
        values = report_fields(line)
        if loss is not None:
            values["loss"] = loss  # full precision (the line shows two decimals)
        values["learning_rate"] = learning_rate
        self.scalars(step, values, "train")
        if self.bar is not None and loss is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    # --- fine-tuning ------------------------------------------------------------------
    def finetune_report(self, step, line, loss, learning_rate):
        self.write_line(line)
        self.scalars(step, {"loss": loss, "learning_rate": learning_rate}, "train")

    def evaluated(self, step, metric_name, evaluate, prefix="dev"):
        """Run ``evaluate()`` (it prints the task's report), copy what it printed to the log
        file, the metrics to TensorBoard; return its score."""
        if self.log is None and self.writer is None:
            return evaluate()
        tee = _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            score = evaluate()
        text = tee.kept.getvalue()
        if self.log is not None:
            self.log.write(text if text.endswith("\n") or not text else text + "\n")
            self.log.flush()
        values = evaluation_fields(text)
        if score is not None:
            values[re.sub(r"\W+", "_", metric_name.strip()).lower()] = float(score)
        self.scalars(step, values, prefix)
        return score

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.log is not None:
            self.log.close()
            self.log = None


def report_written(count, path, what="predictions"):
    """The last line of every inference script."""
    print(f"Wrote {count} {what} to {path}", flush=True)
