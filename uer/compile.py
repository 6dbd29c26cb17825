"""--compile: the model wrapped in torch.compile for pre-training, fine-tuning and inference.

Batch shapes vary here: pre-training trims all-padding columns (uer.padding_trim),
--group_by_length makes batches of different lengths, fine-tuning pads each batch to its longest
row, and the last batch of an epoch is smaller. A static graph per shape would recompile on
almost every step (and torch gives up after a few, falling back to eager). So the compiled model
traces with dynamic shapes (``dynamic=None``: the first graph is static, and the first
shape change recompiles it once with that dimension symbolic), and pre-training trims to a
multiple of ``LENGTH_BUCKET`` columns, so few distinct shapes reach it in the first place.
Fine-tuning batches are not rounded: extra padding would change what a backward RNN reads.

Checkpoints stay free of the wrapper's ``_orig_mod.`` prefix: every save goes through
``uer.checkpoint.unwrap`` (which also removes torch.compile's wrapper) and ``read_state_dict``
strips the prefix from files written elsewhere."""
import torch

LENGTH_BUCKET = 8  # multiple the sequence lengths are rounded up to under --compile


def compile_enabled(args):
    return bool(getattr(args, "compile", False))


def compile_model(model, args):
    """``model`` wrapped in torch.compile when --compile is on, else ``model`` unchanged.

    The wrapper forwards attribute access (``no_sync``, ``encoder``, ...) to the module."""
    if not compile_enabled(args):
        return model
    backend = getattr(args, "compile_backend", None) or "inductor"
    return torch.compile(model, backend=backend, dynamic=None)
