"""scripts/extract_feature.py on a tiny BERT: shapes, values, pooling, .npy output."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from _scripts_data import save_tiny, write_tiny_config, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import extract_feature  # noqa: E402

LINES = ["我是中国人", "", "他们在这个国工作", "大"]


@pytest.fixture
def files(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    model_path, model = save_tiny(tmp_path / "bert.bin", vocab)
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return {"vocab": vocab, "config": write_tiny_config(tmp_path / "tiny.json"),
            "model": model_path, "net": model, "input": str(tmp_path / "in.txt"), "dir": tmp_path}


def argv(files, out, *extra):
    return ["--input_path", files["input"], "--pretrained_model_path", files["model"],
            "--vocab_path", files["vocab"], "--config_path", files["config"],
            "--output_path", str(out), "--seq_length", "10", "--batch_size", "2", *extra]


def expected(files, text, seq_length=10):
    from uer.vocab import Vocab
    vocab = Vocab.from_file(files["vocab"])
    ids = [vocab.cls_id] + [vocab.get(c) for c in text]
    src = torch.tensor([ids + [0] * (seq_length - len(ids))])
    seg = torch.tensor([[1] * len(ids) + [0] * (seq_length - len(ids))])
    net = files["net"]
    with torch.no_grad():
        return net.encoder(net.embedding(src, seg), seg)[0], len(ids)


def test_full_features(files):
    out = files["dir"] / "f.pt"
    extract_feature.main(argv(files, out))
    features = torch.load(out, weights_only=True)
    assert type(features) is torch.Tensor and list(features.shape) == [3, 10, 16]
    want, _ = expected(files, LINES[2])
    assert torch.allclose(features[1], want, atol=1e-5)


def test_pooling_and_npy(files):
    out = files["dir"] / "f.npy"
    extract_feature.main(argv(files, out, "--pooling", "mean"))
    features = np.load(out)
    assert features.shape == (3, 16)
    want, length = expected(files, LINES[0])
    assert np.allclose(features[0], want[:length].mean(0).numpy(), atol=1e-5)
    out = files["dir"] / "last.pt"
    extract_feature.main(argv(files, out, "--pooling", "last"))
    want, length = expected(files, LINES[3])
    assert torch.allclose(torch.load(out, weights_only=True)[2], want[length - 1], atol=1e-5)


def test_wrong_config_is_one_line_error(files):
    wide = write_tiny_config(files["dir"] / "wide.json", hidden_size=32, emb_size=32)
    args = argv(files, files["dir"] / "x.pt")
    args[args.index("--config_path") + 1] = wide
    result = subprocess.run([sys.executable, "scripts/extract_feature.py", *args], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (files["dir"] / "x.pt").exists()
