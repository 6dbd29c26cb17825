"""The dataset file: a JSON header and raw numpy arrays, read by memory map. Never pickle.

Layout (all integers little-endian)::

    8 bytes   magic b"UERDSET1"
    8 bytes   uint64 length of the JSON header in bytes
    n bytes   JSON header (UTF-8)
    ...       each array's raw bytes, starting at a 64-byte aligned offset

The header holds the format version, the build settings (target, seq_length, vocab size and
checksum, tokenizer, masking settings, seed ...), counts, and for every array its dtype, shape
and byte offset. Arrays per instance (N instances, L = seq_length):

- ``src`` [N, L]: token ids (uint16 when the vocabulary has at most 65536 entries, else int32),
  right-padded with 0; already masked for static masking.
- ``a_end``, ``b_end`` [N] (bert, albert, cls): end of ``[CLS] A [SEP]`` and of ``... B [SEP]``.
- ``n_real`` [N] (mlm, lm, bilm): number of real (non-padding) tokens.
- ``label`` [N] (bert: random next, albert: wrong order, cls: class).
- ``last_tgt`` [N] (lm): target of the last real position (the rest of tgt is src shifted).
- static masking: ``mask_offsets`` [N+1] int64, ``mask_pos`` and ``mask_ids`` [total]: the
  masked positions and original ids of instance i are ``[mask_offsets[i]:mask_offsets[i+1]]``.
- ``word_start`` [N, ceil(L/8)] uint8 (dynamic masking built with --whole_word_masking; the
  header then has ``whole_word_masking``, ``segmenter`` and ``user_dict``): one bit per
  position, ``np.packbits`` order, set where a token begins a word (clear for continuation
  tokens and padding).
"""
import json
import os
import struct

import numpy as np

from uer.data.builders import str2builder
from uer.errors import UerError

MAGIC = b"UERDSET1"
FORMAT_VERSION = 1
ALIGN = 64
_PREFIX = struct.Struct("<8sQ")


def token_dtype(vocab_size):
    return np.dtype("<u2") if vocab_size <= 65536 else np.dtype("<i4")


def _aligned(offset):
    return (offset + ALIGN - 1) // ALIGN * ALIGN


# --- reading -------------------------------------------------------------------------------
def read_header(path):
    """The JSON header of a dataset file; UerError naming the file if it is not one."""
    if not os.path.isfile(path):
        raise UerError(f"{path}: dataset file not found")
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        prefix = handle.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise UerError(f"{path}: not a UER dataset file (too short)")
        magic, header_length = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise UerError(f"{path}: not a UER dataset file (run preprocess.py to build one)")
        if header_length > size - _PREFIX.size:
            raise UerError(f"{path}: dataset file is truncated (header)")
        try:
            header = json.loads(handle.read(header_length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UerError(f"{path}: dataset header is corrupt") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        raise UerError(f"{path}: unsupported dataset format version "
                       f"{header.get('format_version') if isinstance(header, dict) else '?'}")
    for name, spec in header.get("arrays", {}).items():
        end = spec["offset"] + int(np.prod(spec["shape"])) * np.dtype(spec["dtype"]).itemsize
        if end > size:
            raise UerError(f"{path}: dataset file is truncated (array {name})")
    return header


class DatasetFile:
    """Memory-mapped arrays of a dataset file; ``batch(indices)`` assembles padded rows."""

    def __init__(self, path):
        self.path = path
        self.header = read_header(path)
        self.arrays = {}
        for name, spec in self.header["arrays"].items():
            shape = tuple(spec["shape"])
            dtype = np.dtype(spec["dtype"])
            if int(np.prod(shape)) == 0:
                self.arrays[name] = np.zeros(shape, dtype=dtype)
            else:
                self.arrays[name] = np.memmap(path, dtype=dtype, mode="r",
                                              offset=spec["offset"], shape=shape)
        self.num_instances = self.header["counts"]["instances"]

    def __len__(self):
        return self.num_instances

    def batch(self, indices):
        """Dict of int64 arrays for instance numbers ``indices`` (sorted reads are fastest):
        src, a_end, b_end, label, tgt_mlm and word_start (bool) where stored, and what the target's builder
        derives at read time (``read_fields``: lm's tgt, bilm's tgt_fwd and tgt_bwd)."""
        indices = np.asarray(indices, dtype=np.int64)
        arrays = self.arrays
        src = np.asarray(arrays["src"][indices], dtype=np.int64)
        out = {"src": src}
        if "n_real" in arrays:
            n_real = np.asarray(arrays["n_real"][indices], dtype=np.int64)
            out["a_end"] = out["b_end"] = n_real
        else:
            out["a_end"] = np.asarray(arrays["a_end"][indices], dtype=np.int64)
            out["b_end"] = np.asarray(arrays["b_end"][indices], dtype=np.int64)
        if "label" in arrays:
            out["label"] = np.asarray(arrays["label"][indices], dtype=np.int64)
        if "mask_offsets" in arrays:
            out["tgt_mlm"] = self._mlm_targets(indices, src.shape)
        if "word_start" in arrays:
            out["word_start"] = np.unpackbits(np.asarray(arrays["word_start"][indices]), axis=1,
                                              count=src.shape[1]).astype(bool)
        str2builder[self.header["target"]].read_fields(out, self, indices)
        return out

    def _mlm_targets(self, indices, shape):
        offsets = self.arrays["mask_offsets"]
        starts = np.asarray(offsets[indices], dtype=np.int64)
        counts = np.asarray(offsets[indices + 1], dtype=np.int64) - starts
        tgt = np.zeros(shape, dtype=np.int64)
        total = int(counts.sum())
        if total:
            rows = np.repeat(np.arange(len(indices)), counts)
            within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            flat = np.repeat(starts, counts) + within
            tgt[rows, np.asarray(self.arrays["mask_pos"][flat], dtype=np.int64)] = \
                self.arrays["mask_ids"][flat]
        return tgt


def open_dataset(path):
    return DatasetFile(path)


class RawFile:
    """A chunk for ``write_dataset`` that is a whole file of raw little-endian array bytes,
    copied inside the kernel instead of through numpy."""

    def __init__(self, path):
        self.path = path


def _copy_file(path, out):
    out.flush()
    with open(path, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                sent = os.copy_file_range(source.fileno(), out.fileno(), size - copied)
                if sent == 0:
                    break
                copied += sent
        except (AttributeError, OSError):
            pass  # no copy_file_range here: copy the rest through user space
        if copied < size:
            source.seek(copied)
            out.seek(0, os.SEEK_END)
            while True:
                block = source.read(1 << 22)
                if not block:
                    break
                out.write(block)
                copied += len(block)
    out.seek(0, os.SEEK_END)
    return copied


# --- writing -------------------------------------------------------------------------------
def write_dataset(path, header, sources):
    """Write a dataset file at ``path`` (directly; callers write to a temp name and rename).

    ``sources`` maps array name -> (dtype, shape, chunks) where ``chunks`` is an iterable of
    numpy arrays or ``RawFile`` objects (or a callable returning one) whose concatenation in
    order is the array.
    """
    header = dict(header)
    header["format_version"] = FORMAT_VERSION
    layout = {}
    # Offsets depend on the header length, which depends on the offsets: iterate to a fixpoint.
    header_length = 0
    while True:
        offset = _aligned(_PREFIX.size + header_length)
        layout = {}
        for name, (dtype, shape, _) in sources.items():
            layout[name] = {"dtype": np.dtype(dtype).str, "shape": list(shape), "offset": offset}
            offset = _aligned(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
        header["arrays"] = layout
        encoded = json.dumps(header, sort_keys=True).encode("utf-8")
        if len(encoded) == header_length:
            break
        header_length = len(encoded)
    with open(path, "wb") as out:
        out.write(_PREFIX.pack(MAGIC, header_length))
        out.write(encoded)
        for name, (dtype, shape, chunks) in sources.items():
            out.write(b"\0" * (layout[name]["offset"] - out.tell()))
            expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
            written = 0
            for chunk in (chunks() if callable(chunks) else chunks):
                if isinstance(chunk, RawFile):
                    written += _copy_file(chunk.path, out)
                    continue
                data = np.ascontiguousarray(chunk, dtype=dtype).tobytes()
                out.write(data)
                written += len(data)
            if written != expected:
                raise RuntimeError(f"array {name}: wrote {written} bytes, expected {expected}")
    return header
