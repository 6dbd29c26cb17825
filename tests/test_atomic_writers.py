"""Every writer goes through uer/atomic.py: no other module renames temporary files itself, and
a write that fails at the last moment leaves the old file and no debris."""
import os
import re

import pytest
import torch

import uer.atomic
from tests.conftest import REPO
from uer.checkpoint import save_model
from uer.vocab import Vocab

# Moves the files of a TensorFlow checkpoint (several files sharing a prefix, not one file or
# one folder) in from a uer.atomic.temporary_path folder.
# uer/outputs.py only reads those names (debris of dead runs) and probes a folder.
ALLOWED = {"uer/atomic.py", "uer/convert/google.py", "uer/outputs.py"}
RENAMING = re.compile(r"os\.replace\(|os\.rename\(|tempfile\.mkstemp\(|\.tmp-")


def python_sources():
    for folder in ("uer", "scripts", "inference", "."):
        root = REPO / folder
        paths = root.rglob("*.py") if folder != "." else root.glob("*.py")
        for path in paths:
            yield path.relative_to(REPO).as_posix(), path


def test_no_module_but_uer_atomic_renames_temporary_files():
    offenders = [name for name, path in python_sources()
                 if name not in ALLOWED and RENAMING.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


@pytest.mark.parametrize("write", [
    lambda path: Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new"]).save(path),
    lambda path: save_model(torch.nn.Linear(2, 2), path),
    lambda path: uer.atomic.write_text(path, "new\n"),
])
def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_beside_it(tmp_path, monkeypatch,
                                                                        write):
    path = tmp_path / "out"
    path.write_text("old\n")

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(uer.atomic.os, "replace", no_rename)
    with pytest.raises(OSError):
        write(str(path))
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out"]
