"""Conventions shared by the pre-training targets.

Every target is registered in ``uer.targets.str2target`` and built as ``Target(args, vocab_size)``;
``forward(memory_bank [B, L, H], tgt)`` returns UER-py's tuple of 0-dim tensors (SPEC §4.4):
losses first, then correct counts (float tensors), then the denominator where UER-py has one.

Weight tying (``--tie_weights``): a target whose output layer predicts the vocabulary names that
``nn.Linear`` in the class attribute ``tied_output_name`` (``"mlm_linear_2"`` for mlm/bert/albert,
``"output_layer"`` for lm/bilm). ``uer.model.tie_weights`` then makes its ``weight`` the same
Parameter as ``embedding.word_embedding.weight`` (shapes must agree). A target without a
vocabulary output layer leaves ``tied_output_name = None`` and ``--tie_weights`` is refused.

Heads compute logits only where labels exist and use ``F.cross_entropy`` (no one-hot tensors).

What a target declares (class attributes; the loader, trainer, report line and padding trimming
read them, so a new target needs no edit elsewhere):

- ``batch_fields``: the loader's tuple, in order, by array name: ``"src"`` and ``"seg"`` plus
  the target's labels (``"tgt_mlm"`` = masked-LM labels, masked by the loader when the dataset
  asks for dynamic masking; ``"label"`` = one per instance; any other array the dataset file or
  its builder's ``read_fields`` provides). The model receives ``tgt`` = the fields between, as
  one tensor or a tuple in that order (``split_batch``).
- ``metrics``: a ``uer.report.TargetMetrics`` naming the ``forward`` outputs in order, the losses
  summed into the training loss, the accuracies and the report line.
- ``padding_invariant``: True when the loss reads no padding position, so the trainer may cut
  trailing padding columns (``uer/padding_trim.py``; the encoder must agree).
- optionally ``rows_read(tgt) -> bool [B, L]``: the only encoder rows the loss reads (an encoder
  that can computes just those in its last layer), ``needs_causal_encoder``,
  ``needs_separate_directions`` (checked against the encoder's declarations in
  ``uer.model.check_combination``), ``labels_from_dataset`` (``args.labels_num`` comes from the
  dataset header), and ``config_keys`` (``uer.hparams``).
"""
import torch
import torch.nn.functional as F

from uer.report import TargetMetrics

# UER-py adds this to the number of predicted tokens so an empty batch gives loss 0, not NaN.
DENOMINATOR_EPS = 1e-6


def token_prediction_loss(logits, labels):
    """Summed cross-entropy over rows of ``logits`` [N, V] / (N + 1e-6), correct count, denominator.

    ``labels`` [N] holds the gold ids of exactly these rows (the caller selected rows with
    label > 0)."""
    denominator = torch.tensor(labels.numel() + DENOMINATOR_EPS, device=logits.device)
    loss = F.cross_entropy(logits.float(), labels, reduction="sum") / denominator
    correct = (logits.argmax(dim=-1) == labels).sum().float()
    return loss, correct, denominator


def sentence_loss(logits, labels):
    """Mean cross-entropy and correct count for one label per sequence."""
    loss = F.cross_entropy(logits.float(), labels)
    correct = (logits.argmax(dim=-1) == labels).sum().float()
    return loss, correct


# One token-level loss and its accuracy: the mlm and lm report lines.
TOKEN_METRICS = TargetMetrics(("loss", "correct", "denominator"), ("loss",),
                              (("acc", "correct", "denominator"),), "| acc: {acc:3.3f}")


def split_batch(batch_fields, batch):
    """A loader tuple laid out as ``batch_fields`` -> (src, tgt, seg) for ``Model.forward``."""
    named = dict(zip(batch_fields, batch))
    labels = tuple(named[name] for name in batch_fields if name not in ("src", "seg"))
    return named["src"], labels[0] if len(labels) == 1 else labels, named["seg"]
