import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def shared_path(*parts):
    """Path inside ../shared/data; the test is skipped only if the shared data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return str(path)


@pytest.fixture
def zh_vocab_path():
    return shared_path("vocab", "google_zh_vocab.txt")


@pytest.fixture
def en_vocab_path():
    return shared_path("vocab", "google_uncased_en_vocab.txt")


@pytest.fixture
def spm_model_path():
    return shared_path("vocab", "cluecorpussmall_spm.model")


@pytest.fixture
def linear_backend(monkeypatch):
    """``linear_backend("mkl" | "onednn")`` sets the linears' backend for one test
    (uer/layers/onednn_linear.py); the choice is forgotten afterwards."""
    from uer.layers import onednn_linear

    def choose(name):
        if name == "onednn" and not onednn_linear._onednn_available():
            pytest.skip("torch built without oneDNN")
        monkeypatch.setenv("UER_LINEAR_BACKEND", name)
        onednn_linear._reset_backend()
    yield choose
    onednn_linear._reset_backend()


@pytest.fixture(autouse=True)
def _single_thread_torch():
    # Tests run beside each other on 2 cores: keep torch from oversubscribing.
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    yield
