"""The dataset file format: header, aligned arrays, memory map, refusals of foreign files."""
import json
import os
import struct

import numpy as np
import pytest

from uer.data.storage import (ALIGN, MAGIC, DatasetFile, read_header, token_dtype,
                              write_dataset)
from uer.errors import UerError


def small_dataset(path, vocab_size=30000):
    dtype = token_dtype(vocab_size)
    src = np.array([[1, 5, 6, 2, 0, 0], [1, 7, 2, 8, 9, 2]], dtype=dtype)
    sources = {
        "src": (dtype, src.shape, [src]),
        "a_end": ("<u2", (2,), [np.array([4, 3])]),
        "b_end": ("<u2", (2,), [np.array([4, 6])]),
        "label": ("u1", (2,), [np.array([0, 1])]),
        "mask_offsets": ("<i8", (3,), [np.array([0, 1]), np.array([3])]),
        "mask_pos": ("<u2", (3,), [np.array([2, 1, 4])]),
        "mask_ids": (dtype, (3,), [np.array([6, 7, 9])]),
    }
    header = {"target": "bert", "seq_length": 6, "vocab_size": vocab_size,
              "vocab_checksum": "abc", "counts": {"instances": 2}}
    write_dataset(str(path), header, sources)
    return src


def test_round_trip_and_alignment(tmp_path):
    path = tmp_path / "dataset.pt"
    src = small_dataset(path)
    header = read_header(str(path))
    assert header["format_version"] == 1 and header["target"] == "bert"
    for spec in header["arrays"].values():
        assert spec["offset"] % ALIGN == 0
    assert header["arrays"]["src"]["dtype"] == "<u2"
    dataset = DatasetFile(str(path))
    assert isinstance(dataset.arrays["src"], np.memmap)
    batch = dataset.batch([0, 1])
    assert (batch["src"] == src).all()
    assert batch["tgt_mlm"].tolist() == [[0, 0, 6, 0, 0, 0], [0, 7, 0, 0, 9, 0]]
    assert batch["label"].tolist() == [0, 1] and batch["b_end"].tolist() == [4, 6]
    assert dataset.batch([1])["tgt_mlm"].tolist() == [[0, 7, 0, 0, 9, 0]]


def test_large_vocab_uses_int32_ids(tmp_path):
    path = tmp_path / "big.pt"
    small_dataset(path, vocab_size=70000)
    assert read_header(str(path))["arrays"]["src"]["dtype"] == "<i4"
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.int32


def test_no_pickle_anywhere(tmp_path):
    path = tmp_path / "dataset.pt"
    small_dataset(path)
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    assert b"\x80\x04" not in data[:16] and b"numpy" not in data


@pytest.mark.parametrize("content,reason", [
    (b"", "too short"),
    (b"\x80\x04\x95hello pickle stream" * 3, "not a UER dataset"),
    (MAGIC + struct.pack("<Q", 10 ** 9) + b"{}", "truncated"),
    (MAGIC + struct.pack("<Q", 5) + b"{oops", "corrupt"),
    (MAGIC + struct.pack("<Q", 2) + b"[]", "version"),
])
def test_foreign_or_corrupt_files_are_refused_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "weird.pt"
    path.write_bytes(content)
    with pytest.raises(UerError, match=reason) as info:
        read_header(str(path))
    assert str(path) in str(info.value)


def test_truncated_arrays_are_detected(tmp_path):
    path = tmp_path / "dataset.pt"
    small_dataset(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size - 4)
    with pytest.raises(UerError, match="truncated"):
        read_header(str(path))


def test_header_is_plain_json(tmp_path):
    path = tmp_path / "dataset.pt"
    small_dataset(path)
    with open(path, "rb") as handle:
        handle.read(8)
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    assert header["vocab_checksum"] == "abc" and set(header["arrays"]) >= {"src", "mask_pos"}
