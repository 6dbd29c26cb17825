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
"""
import torch
import torch.nn.functional as F

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
