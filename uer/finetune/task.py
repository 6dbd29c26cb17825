"""The contract between a fine-tuning task and the engine (``uer.finetune.engine.Engine``).

A task turns its files into examples, examples into model inputs and batches, and model outputs
into scores. The engine owns everything else (epochs, optimizer, device, mixed precision,
batch order, prediction under ``torch.inference_mode``, model selection) and never needs to
know what an example holds. The flow, for a newcomer:

1. The task's reader (a function of its module, e.g. ``read_ner``) turns a file into a list of
   **examples** of the task's own type: a tagged sentence, a CMRC question with its passage,
   a C3 question with its choices.
2. ``inputs(example)`` gives the **model inputs** of one example: usually ``[example]`` itself,
   several windows for a long CMRC passage. Each input has ``len(input)`` (its length in
   tokens; for a [choices, length] input the longest choice) so batches can group similar
   lengths.
3. ``collate(inputs)`` pads a list of inputs into a dict of tensors (a batch).
4. ``loss(model, batch)`` is the training loss (a scalar); ``forward(model, batch)`` is what
   prediction collects: a tensor whose first dimension is the batch.
5. The engine cuts ``forward``'s result into one tensor per input, trims it to
   ``output_length(input)`` along its first dimension when that is not None (token tags,
   start/end logits: padding positions go), and hands the outputs of each example's inputs, in
   order, to ``combine(example, outputs)``: by default the single output; CMRC decodes its
   windows' logits into one answer there.
6. ``score(examples, outputs, detailed)`` turns the combined outputs (one per example, in input
   order) into the task's metric: it prints UER-py's report line(s) and returns a number,
   higher is better (the engine keeps the model with the best dev score). It needs no model, so
   metrics are tested on hand-made outputs.

Optional: ``train_batches(inputs, batch_size, rng)`` to choose the training batch order
(default: reshuffled every epoch, batches of similar lengths, ``batching.shuffled_batches``)
and ``predict_batches(inputs, batch_size)`` for prediction (default: positions grouped by
length, ``batching.length_sorted_batches``; the multi-task classifier keeps one task per batch).

Adding a task = one module in ``uer/finetune/tasks/`` (examples, reader, a ``Task`` subclass,
its head), one root script and one inference script; nothing else is edited.
"""
from uer.finetune.batching import length_sorted_batches, shuffled_batches


class Task:
    """Base class with the defaults described above; a task overrides what it needs."""

    metric_name = "score"

    def inputs(self, example):
        return [example]

    def collate(self, inputs):
        raise NotImplementedError

    def loss(self, model, batch):
        raise NotImplementedError

    def forward(self, model, batch):
        raise NotImplementedError

    def output_length(self, model_input):
        """Length to trim one input's output to (None: keep it whole)."""
        return None

    def combine(self, example, outputs):
        """One example's result from the outputs of its inputs (in ``inputs`` order)."""
        return outputs[0]

    def score(self, examples, outputs, detailed=False):
        raise NotImplementedError

    def train_batches(self, inputs, batch_size, rng):
        return shuffled_batches(inputs, batch_size, rng)

    def predict_batches(self, inputs, batch_size):
        """Lists of positions into ``inputs``, one list per prediction batch."""
        return length_sorted_batches(inputs, batch_size)
