"""The concatenated weight and bias of several linears (attention's Q/K/V), computed once per
inference run instead of on every call.

The parameters stay three separate ``nn.Linear``s (UER-py's names ``linear_layers.0/1/2``), so a
fused matmul needs ``torch.cat`` of their weights. With autograd on, that cat is part of the
graph and is recomputed. With it off (evaluation, inference scripts) the weights do not change
between calls, so the result is kept, and thrown away when anything could have changed them:

- the tensors' storage address or version counter (``load_state_dict``, ``p.copy_()`` under
  no_grad, ``p.data = ...``, ``.to()`` all change one of them);
- any step of any ``torch.optim.Optimizer`` (a global step hook): optimizers update through
  ``.data`` or under no_grad, which bumps no version counter that the cache can see;
- the module switching between train and eval (``MultiHeadedAttention.train``), so an
  evaluation after an epoch always starts from the current weights.

What stays invisible is an in-place write through ``.data`` outside an optimizer step while the
model stays in eval mode; code that does that must call ``model.eval()`` (or ``clear``) again.
"""
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

_optimizer_steps = 0


def _count_step(optimizer, args, kwargs):
    global _optimizer_steps
    _optimizer_steps += 1


register_optimizer_step_post_hook(_count_step)


def _concatenated(linears):
    return (torch.cat([linear.weight for linear in linears]),
            torch.cat([linear.bias for linear in linears]))


class ConcatenatedWeights:
    """``get(linears)``: (weight, bias) of the linears stacked along the output dimension; one
    kept pair per number of linears (attention asks for Q/K/V, or for K/V alone)."""

    def __init__(self):
        self._entries = {}

    def clear(self):
        self._entries.clear()

    def get(self, linears):
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            self.clear()
            return _concatenated(linears)
        key = (_optimizer_steps,) + tuple(
            (t.data_ptr(), t._version, t.dtype, t.device)
            for linear in linears for t in (linear.weight, linear.bias))
        # One slot per list length (all three, or K/V alone): not per object, since module
        # copies (deepcopy, DataParallel replicas) share this cache and would only add slots.
        slot = len(linears)
        entry = self._entries.get(slot)
        if entry is None or entry[0] != key:
            self._entries.pop(slot, None)  # release the old pair before building the new one
            entry = self._entries[slot] = (key, _concatenated(linears))
        return entry[1]
