"""safetensors checkpoints (uer.tensorfile): written for a .safetensors path, read wherever a
checkpoint is read (told by content, not by name), tied weights, broken files, and the one-line
refusal of a pickle that torch.load(weights_only=True) rejects."""
import subprocess
import sys
from argparse import Namespace

import pytest
import torch
from safetensors.torch import save_file

from tests.conftest import REPO
from uer.checkpoint import load_model, read_state_dict, save_model
from uer.errors import UerError
from uer.tensorfile import is_safetensors, read_tensors, untied, write_tensors


class Tied(torch.nn.Module):
    """A word embedding shared with an output layer, as --tie_weights does."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(7, 4)
        self.output = torch.nn.Linear(4, 7)
        self.output.weight = self.embedding.weight


def test_round_trip_keeps_every_tensor_exactly(tmp_path):
    torch.manual_seed(0)
    state = {"a.weight": torch.randn(3, 5), "b.bias": torch.arange(4, dtype=torch.int64),
             "c.half": torch.randn(2, 2).half()}
    path = tmp_path / "model.safetensors"
    write_tensors(state, str(path))
    assert is_safetensors(str(path))
    back = read_tensors(str(path))
    assert set(back) == set(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value)


def test_format_is_told_by_content_not_name(tmp_path):
    state = {"w": torch.randn(2, 3)}
    disguised = tmp_path / "model.bin"  # a safetensors file with a .bin name
    save_file(state, str(disguised))
    assert torch.equal(read_state_dict(str(disguised))["w"], state["w"])
    pickled = tmp_path / "model.safetensors"  # a torch file with a .safetensors name
    torch.save(state, str(pickled))
    assert not is_safetensors(str(pickled))
    assert torch.equal(read_state_dict(str(pickled))["w"], state["w"])


def test_tied_weights_are_written_as_copies_and_load_back_tied(tmp_path):
    model = Tied()
    path = tmp_path / "tied.safetensors"
    save_model(model, str(path))  # safetensors itself refuses shared tensors
    state = read_state_dict(str(path))
    assert set(state) == {"embedding.weight", "output.weight", "output.bias"}
    assert torch.equal(state["embedding.weight"], state["output.weight"])
    fresh = Tied()
    report = load_model(fresh, str(path), strict=True, verbose=False)
    assert not report.missing and not report.unexpected
    assert fresh.output.weight is fresh.embedding.weight
    assert torch.equal(fresh.embedding.weight, model.embedding.weight)
    # The copies own their memory: nothing in the written dict shares storage.
    pointers = [t.untyped_storage().data_ptr() for t in untied(model.state_dict()).values()]
    assert len(set(pointers)) == len(pointers)


def test_pretraining_checkpoints_of_a_safetensors_output_are_safetensors(tmp_path):
    path = tmp_path / "model.safetensors-100"
    write_tensors({"w": torch.ones(2)}, str(path))
    assert is_safetensors(str(path))


def test_truncated_safetensors_is_one_line_error(tmp_path):
    good = tmp_path / "good.safetensors"
    write_tensors({"w": torch.randn(64, 64)}, str(good))
    data = good.read_bytes()
    for cut in (len(data) // 2, 12):  # inside the tensor data, inside the header
        broken = tmp_path / f"cut{cut}.safetensors"
        broken.write_bytes(data[:cut])
        with pytest.raises(UerError) as err:
            read_state_dict(str(broken))
        message = str(err.value)
        assert message.startswith(f"{broken}: ") and "\n" not in message
        assert "safetensors" in message


def test_file_that_is_neither_format_is_one_line_error(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint at all\n" * 4)
    with pytest.raises(UerError) as err:
        read_state_dict(str(junk))
    message = str(err.value)
    assert message.startswith(f"{junk}: not a readable checkpoint") and "\n" not in message


class NotATensor:
    pass


def test_pickle_refusal_is_one_clean_line(tmp_path):
    path = tmp_path / "pickled.bin"
    torch.save({"w": torch.zeros(1), "extra": NotATensor()}, str(path))
    with pytest.raises(UerError) as err:
        read_state_dict(str(path))
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith(f"{path}: refused to load")
    assert "NotATensor" in message and "weights_only" in message


def test_script_prints_pickle_refusal_as_one_error_line(tmp_path):
    path = tmp_path / "pickled.bin"
    torch.save(Namespace(w=torch.zeros(1)), str(path))
    result = subprocess.run(
        [sys.executable, "scripts/extract_embedding.py", "--pretrained_model_path", str(path),
         "--vocab_path", "models/sample_vocab.txt", "--output_word_embedding_path",
         str(tmp_path / "out.txt")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: refused to load")
    assert "argparse.Namespace" in lines[0] and "\x1b" not in lines[0]
    assert not (tmp_path / "out.txt").exists()
