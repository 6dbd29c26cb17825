"""Collects one corpus part's instances in fixed-size blocks and streams them to raw files.

Each block of padded instances is masked at once (static masking) before it is written, so
memory stays at one block whatever the corpus size. ``merge_parts`` joins the parts' files
into one dataset file (see storage.py).
"""
import os

import numpy as np

from uer.data.segmenter import CONTINUATION
from uer.data.storage import RawFile, write_dataset

BLOCK_ROWS = 4096
READ_ELEMENTS = 1 << 20


class PartWriter:
    def __init__(self, prefix, seq_length, token_dtype, fields, mask_fn=None, word_flags=False):
        """``fields``: name -> dtype string or "token", in the order of ``add``'s values;
        ``mask_fn(block) -> (masked, tgt)`` applies static masking, or None.

        ``word_flags`` (whole word masking): the ids come with ``CONTINUATION`` added to the
        tokens that continue a word. The block is then int32; at flush the flags become
        ``mask_fn``'s ``word_start`` (static masking) or the bit-packed ``word_start`` array."""
        from array import array

        self.prefix = prefix
        self.seq_length = seq_length
        self.output_dtype = np.dtype(token_dtype)
        self.word_flags = word_flags
        # The dtype of the ids while instances are assembled (flags need the wider type).
        self.token_dtype = np.dtype("<i4") if word_flags else self.output_dtype
        self.fields = {name: (self.output_dtype if dtype == "token" else np.dtype(dtype))
                       for name, dtype in fields.items()}
        self.mask_fn = mask_fn
        self.block = np.zeros((BLOCK_ROWS, seq_length), dtype=self.token_dtype)
        self.meta = {name: np.zeros(BLOCK_ROWS, dtype=dtype) for name, dtype in self.fields.items()}
        names = ["src", *self.fields]
        if mask_fn is not None:
            names += ["mask_count", "mask_pos", "mask_ids"]
        elif word_flags:
            names.append("word_start")
        self.files = {name: open(f"{prefix}.{name}.bin", "wb") for name in names}
        self.rows = 0
        self.instances = 0
        self.masked = 0
        # Instances added one by one wait here (flat tokens + lengths + field values) and are
        # placed into the block in one vectorised step.
        self._typecode = "H" if self.token_dtype == np.uint16 else "i"
        self._new_flat = lambda: array(self._typecode)
        self.flat = self._new_flat()
        self.lengths = []
        self.values = []
        self.positions = np.arange(seq_length)[None, :]

    def add(self, tokens, values):
        """One instance: ``tokens`` (an ``array`` of the id type, or a numpy array) of length
        <= seq_length, and a tuple with one value per field."""
        if isinstance(tokens, np.ndarray):
            self.flat.frombytes(tokens.astype(self.token_dtype).tobytes())
        else:
            self.flat += tokens
        self.added(len(tokens), values)

    def added(self, length, values):
        """Record an instance whose ``length`` ids were just appended to ``self.flat``."""
        self.lengths.append(length)
        self.values.append(values)
        if self.rows + len(self.lengths) == BLOCK_ROWS:
            self._place_pending()

    def _place_pending(self):
        count = len(self.lengths)
        if not count:
            return
        lengths = np.asarray(self.lengths, dtype=np.int64)
        flat = np.frombuffer(self.flat, dtype=self.token_dtype)
        # Row-major boolean assignment fills each row's first ``length`` cells from ``flat``.
        filled = self.positions < lengths[:, None]
        self.block[self.rows:self.rows + count][filled] = flat
        values = np.asarray(self.values, dtype=np.int64).reshape(count, len(self.meta))
        for column, array in enumerate(self.meta.values()):
            array[self.rows:self.rows + count] = values[:, column]
        self.rows += count
        self.flat = self._new_flat()
        self.lengths = []
        self.values = []
        if self.rows == BLOCK_ROWS:
            self.flush()

    def add_rows(self, rows, **fields):
        """Several full-length rows at once; ``fields`` values are arrays of the same length."""
        self._place_pending()
        done = 0
        while done < len(rows):
            take = min(len(rows) - done, BLOCK_ROWS - self.rows)
            self.block[self.rows:self.rows + take] = rows[done:done + take]
            for name, values in fields.items():
                self.meta[name][self.rows:self.rows + take] = values[done:done + take]
            self.rows += take
            done += take
            if self.rows == BLOCK_ROWS:
                self.flush()

    def flush(self):
        self._place_pending()
        count = self.rows
        if not count:
            return
        block = self.block[:count]
        word_start = None
        if self.word_flags:
            word_start = (block != 0) & (block & CONTINUATION == 0)
            block = (block & (CONTINUATION - 1)).astype(self.output_dtype)
        if self.mask_fn is not None:
            if word_start is None:
                masked, tgt = self.mask_fn(block)
            else:
                masked, tgt = self.mask_fn(block, word_start=word_start)
            rows, positions = np.nonzero(tgt)
            self.files["mask_count"].write(
                np.bincount(rows, minlength=count).astype("<u2").tobytes())
            self.files["mask_pos"].write(positions.astype("<u2").tobytes())
            self.files["mask_ids"].write(tgt[rows, positions].astype(self.output_dtype).tobytes())
            self.masked += len(rows)
            block = masked.astype(self.output_dtype)
        elif word_start is not None:
            self.files["word_start"].write(np.packbits(word_start, axis=1).tobytes())
        self.files["src"].write(np.ascontiguousarray(block).tobytes())
        for name, values in self.meta.items():
            self.files[name].write(values[:count].tobytes())
        self.block[:count] = 0
        self.instances += count
        self.rows = 0

    def close(self):
        """Write what is pending and close the files; returns the counts."""
        if not self.closed:
            self.flush()
            self.close_files()
        return {"instances": self.instances, "masked": self.masked}

    @property
    def closed(self):
        return all(handle.closed for handle in self.files.values())

    def close_files(self):
        """Close the files without writing pending instances (used on errors and by close)."""
        for handle in self.files.values():
            handle.close()


def packed_width(seq_length):
    """Bytes per instance of the bit-packed ``word_start`` array."""
    return (seq_length + 7) // 8


def _read_chunks(path, dtype, elements=READ_ELEMENTS):
    with open(path, "rb") as handle:
        while True:
            chunk = np.fromfile(handle, dtype=dtype, count=elements)
            if not len(chunk):
                return
            yield chunk


def merge_parts(path, header, prefixes, seq_length, token_dtype, fields, masked,
                word_start=False):
    """Write the dataset file ``path`` from the parts' raw files, in part order
    (``word_start``: the parts hold word boundaries for dynamic whole word masking)."""
    token_dtype = np.dtype(token_dtype)
    fields = {name: (token_dtype if dtype == "token" else np.dtype(dtype))
              for name, dtype in fields.items()}

    def size(name, dtype):
        return sum(os.path.getsize(f"{p}.{name}.bin") for p in prefixes) // np.dtype(dtype).itemsize

    def concat(name, dtype):
        # The parts' raw files already hold little-endian arrays: copy them as they are.
        return [RawFile(f"{prefix}.{name}.bin") for prefix in prefixes]

    instances = size("src", token_dtype) // seq_length
    sources = {"src": (token_dtype, (instances, seq_length),
                       concat("src", token_dtype))}
    for name, dtype in fields.items():
        sources[name] = (dtype, (instances,), concat(name, dtype))
    if word_start:
        sources["word_start"] = (np.dtype("u1"), (instances, packed_width(seq_length)),
                                 concat("word_start", "u1"))
    if masked:
        def offsets():
            yield np.zeros(1, dtype=np.int64)
            base = 0
            for counts in (chunk for prefix in prefixes
                           for chunk in _read_chunks(f"{prefix}.mask_count.bin", "<u2")):
                ends = base + np.cumsum(counts, dtype=np.int64)
                base = int(ends[-1])
                yield ends
        total = size("mask_pos", "<u2")
        sources["mask_offsets"] = (np.dtype("<i8"), (instances + 1,), offsets)
        sources["mask_pos"] = (np.dtype("<u2"), (total,), concat("mask_pos", "<u2"))
        sources["mask_ids"] = (token_dtype, (total,), concat("mask_ids", token_dtype))
    header = dict(header)
    header.setdefault("counts", {})["instances"] = instances
    return write_dataset(path, header, sources)
