"""Checkpoints: plain state dicts with UER-py's parameter names (SPEC §4.7, §5).

- ``init_weights(model)``: N(0, 0.02) for every parameter whose name lacks ``gamma``/``beta``.
- ``save_model(model, path)``: the unwrapped module's state dict (no ``module.`` prefix),
  written to a temporary file in the same folder and renamed into place.
- ``load_model(model, path, strict=False, prefixes=None, verbose=True)`` -> ``LoadReport``:
  torch.load(weights_only=True, map_location="cpu"); a ``module.`` prefix is stripped; a shape
  mismatch or an unreadable file is a UerError; prints a one-line summary when verbose.
- ``load_pretrained(model, path, verbose=True)`` = ``load_model`` restricted to the
  ``embedding.`` and ``encoder.`` keys: fine-tuning uses it so the pre-training heads
  (``target.*``) are neither loaded nor reported as unexpected.
"""
import os
import pickle
import zipfile
from collections import namedtuple
from collections.abc import Mapping

import torch

from uer.atomic import atomic_path
from uer.errors import UerError

# Parameters named like this keep their LayerNorm init (gamma=1, beta=0).
NO_INIT_SUBSTRINGS = ("gamma", "beta")
PRETRAINED_PREFIXES = ("embedding.", "encoder.")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP/DataParallel, torch.compile


class LoadReport(namedtuple("LoadReport", "path loaded missing unexpected")):
    """Keys copied into the model, model keys absent from the file, file keys the model lacks."""

    def summary(self, limit=5):
        def listing(keys):
            shown = ", ".join(keys[:limit])
            return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")

        line = f"Loaded {len(self.loaded)} tensors from {self.path}"
        line += f"; missing {len(self.missing)}" + (f": {listing(self.missing)}" if self.missing else "")
        line += f"; unexpected {len(self.unexpected)}" + (
            f": {listing(self.unexpected)}" if self.unexpected else "")
        return line


def unwrap(model):
    """The module itself, without DDP/DataParallel (``.module``) or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def init_weights(model):
    """UER-py's init: every parameter except LayerNorm gamma/beta (biases too) ~ N(0, 0.02)."""
    with torch.no_grad():
        for name, param in unwrap(model).named_parameters():
            if not any(part in name for part in NO_INIT_SUBSTRINGS):
                param.normal_(0.0, 0.02)


def save_model(model, path):
    """Write the state dict atomically: a crash never leaves a truncated file at ``path``."""
    with atomic_path(path) as tmp:
        torch.save(unwrap(model).state_dict(), tmp)


def read_state_dict(path):
    """The checkpoint's key -> tensor mapping, with wrapper prefixes stripped."""
    if not os.path.isfile(path):
        raise UerError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError,
            UnicodeDecodeError, AttributeError, TypeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UerError(f"{path}: not a readable PyTorch checkpoint ({reason[:200]})") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise UerError(f"{path}: not a model checkpoint (expected a state dict of tensors)")
    cleaned = {}
    for key, value in state.items():
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def load_model(model, path, strict=False, prefixes=None, verbose=True):
    """Copy the checkpoint's tensors into ``model`` and return a ``LoadReport``.

    ``prefixes`` (e.g. ("embedding.", "encoder.")) keeps only the checkpoint keys starting
    with one of them; model keys outside them are not reported missing. ``strict=True`` makes
    any missing or unexpected key an error."""
    module = unwrap(model)
    state = read_state_dict(path)
    expected = module.state_dict()
    if prefixes:
        prefixes = tuple(prefixes)
        state = {k: v for k, v in state.items() if k.startswith(prefixes)}
        expected_keys = [k for k in expected if k.startswith(prefixes)]
    else:
        expected_keys = list(expected)
    for key, value in state.items():
        if key in expected and expected[key].shape != value.shape:
            raise UerError(f"{path}: parameter '{key}' has shape {list(value.shape)} in the "
                           f"checkpoint but {list(expected[key].shape)} in the model "
                           "(check --config_path and the model options)")
    missing = [k for k in expected_keys if k not in state]
    unexpected = [k for k in state if k not in expected]
    loaded = [k for k in state if k in expected]
    if strict and (missing or unexpected):
        report = LoadReport(path, loaded, missing, unexpected)
        raise UerError(f"{path}: checkpoint does not match the model. {report.summary()}")
    module.load_state_dict({k: state[k] for k in loaded}, strict=False)
    report = LoadReport(path, loaded, missing, unexpected)
    if verbose:
        print(report.summary())
    return report


def load_pretrained(model, path, verbose=True):
    """Load only the embedding and encoder of a pre-trained checkpoint (fine-tuning)."""
    return load_model(model, path, prefixes=PRETRAINED_PREFIXES, verbose=verbose)
