"""Reading and writing key -> tensor files in either format a checkpoint may have:
PyTorch's (``torch.save``; read with ``weights_only=True``) or safetensors.

- The format of a file being read is decided by its content, not its name: a safetensors file
  starts with an 8-byte little-endian header length followed by the JSON header (``{``).
- A file is written as safetensors when its path ends in ``.safetensors`` (or is a pre-training
  checkpoint of such a path, ``model.safetensors-1000``). safetensors refuses tensors that share
  memory (tied weights): those are written as copies, so the file still holds every key of the
  state dict and loads anywhere a plain state dict does.
- Every failure is a UerError of one line naming the file.
"""
import os
import pickle
import re
import struct
import zipfile

import torch

from uer.atomic import atomic_path
from uer.errors import UerError

SAFETENSORS_SUFFIX = ".safetensors"
_CHECKPOINT_OF_SAFETENSORS = re.compile(r"\.safetensors-\d+$")
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_TORCH_LOAD_ERRORS = (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError,
                      ValueError, UnicodeDecodeError, AttributeError, TypeError, KeyError,
                      IndexError, struct.error)


def writes_safetensors(path):
    return path.endswith(SAFETENSORS_SUFFIX) or bool(_CHECKPOINT_OF_SAFETENSORS.search(path))


def is_safetensors(path):
    """True when the file's first bytes are a safetensors header (length + ``{``)."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_length,) = struct.unpack("<Q", head[:8])
    return header_length >= 2


def _import_safetensors(path):
    try:
        import safetensors.torch
    except ImportError:
        raise UerError(f"{path}: reading or writing safetensors needs the package safetensors "
                       "(pip install safetensors)") from None
    return safetensors.torch


def read_safetensors(path):
    st = _import_safetensors(path)
    try:
        return st.load_file(path, device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError and OSError, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UerError(f"{path}: not a readable safetensors file ({reason[:200]}); truncated "
                       "or damaged?") from None


def pickle_refusal(path, err):
    """The one-line message for torch.load's weights_only refusal (torch's own is a long hint
    with terminal colour codes)."""
    found = _UNSUPPORTED_GLOBAL.search(str(err))
    what = f"the Python object {found.group(1)}" if found else "Python objects"
    return (f"{path}: refused to load: the file holds {what}, not only tensors (checkpoints "
            "are read with weights_only=True, which never runs code from the file)")


def read_torch(path):
    try:
        # A file object, not the path: torch.load would pick its reader by the file name.
        with open(path, "rb") as handle:
            return torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" in str(err):
            raise UerError(pickle_refusal(path, err)) from None
        raise UerError(_unreadable(path, err)) from None
    except _TORCH_LOAD_ERRORS as err:
        raise UerError(_unreadable(path, err)) from None


def _unreadable(path, err):
    text = _ESCAPE.sub("", str(err)).strip()
    reason = text.splitlines()[0] if text else ""
    if not re.search(r"[A-Za-z]", reason):  # e.g. a bare KeyError number
        reason = f"{type(err).__name__} {reason}".strip()
    return (f"{path}: not a readable checkpoint, neither PyTorch nor safetensors "
            f"({reason[:200]})")


def read_tensors(path, option=None):
    """The object stored at ``path`` (a key -> tensor dict for safetensors); ``option`` (e.g.
    "--load_model_path") is named in the error messages when given."""
    where = f"{path}" + (f" ({option})" if option else "")
    if not os.path.isfile(path):
        raise UerError(f"{where}: checkpoint file not found")
    try:
        return read_safetensors(path) if is_safetensors(path) else read_torch(path)
    except UerError as err:
        if option:
            raise UerError(str(err).replace(path, where, 1)) from None
        raise


def untied(state):
    """Contiguous tensors, each with its own memory (a tensor sharing storage with an earlier
    one is copied), as safetensors requires."""
    seen, out = set(), {}
    for key, tensor in state.items():
        tensor = tensor.detach()
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else None
        if pointer is not None and pointer in seen:
            tensor = tensor.clone()
        elif pointer is not None:
            seen.add(pointer)
        out[key] = tensor.contiguous()
    return out


def write_tensors(state, path):
    """Write a key -> tensor dict atomically, as safetensors or with torch.save (by the path)."""
    if writes_safetensors(path):
        st = _import_safetensors(path)
        with atomic_path(path) as tmp:
            st.save_file(untied(state), tmp, metadata={"format": "pt"})
    else:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
