"""scripts/diff_vocab.py, extract_embedding.py and dynamic_vocab_adapter.py on tiny models."""
import subprocess
import sys

import torch

from _scripts_data import CHARS, SPECIALS, save_tiny, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import diff_vocab  # noqa: E402
import dynamic_vocab_adapter  # noqa: E402
import extract_embedding  # noqa: E402

NEW_TOKENS = SPECIALS + ["新", "词"] + CHARS[10:] + ["表"]


def test_diff_vocab(tmp_path, capsys):
    one = write_vocab(tmp_path / "1.txt", ["a", "b", "c", "c"])
    two = write_vocab(tmp_path / "2.txt", ["b x", "c", "d", "e"])
    sizes = diff_vocab.main(["--vocab_1", one, "--vocab_2", two])
    assert sizes == {"1": 3, "2": 4, "1-2": 1, "2-1": 2, "1&2": 2}
    out = capsys.readouterr().out.splitlines()
    assert out == ["vocab_1 size: 3", "vocab_2 size: 4", "vocab_1 - vocab_2: 1",
                   "vocab_2 - vocab_1: 2", "vocab_1 & vocab_2: 2"]


def test_extract_embedding_word2vec(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    path, model = save_tiny(tmp_path / "m.bin", vocab)
    out = tmp_path / "emb.txt"
    extract_embedding.main(["--vocab_path", vocab, "--pretrained_model_path", path,
                            "--output_word_embedding_path", str(out)])
    lines = out.read_text(encoding="utf-8").splitlines()
    weight = model.embedding.word_embedding.weight
    assert lines[0] == f"{weight.size(0)} {weight.size(1)}"
    assert len(lines) == weight.size(0) + 1
    fields = lines[6].split(" ")
    assert fields[0] == (SPECIALS + CHARS)[5]
    assert torch.equal(torch.tensor([float(x) for x in fields[1:]]), weight[5])


def test_extract_embedding_size_mismatch(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    path, _ = save_tiny(tmp_path / "m.bin", vocab)
    short = write_vocab(tmp_path / "short.txt", SPECIALS)
    result = subprocess.run([sys.executable, "scripts/extract_embedding.py", "--vocab_path", short,
                             "--pretrained_model_path", path, "--output_word_embedding_path",
                             str(tmp_path / "e.txt")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "rows" in result.stderr
    assert not (tmp_path / "e.txt").exists()


def adapt(tmp_path, old_vocab, model_path, seed=3, name="new.bin"):
    new_vocab = write_vocab(tmp_path / "new_vocab.txt", NEW_TOKENS)
    out = tmp_path / name
    dynamic_vocab_adapter.main(["--old_model_path", model_path, "--old_vocab_path", old_vocab,
                                "--new_vocab_path", new_vocab, "--new_model_path", str(out),
                                "--seed", str(seed)])
    return torch.load(out, weights_only=True)


def test_adapter_copies_shared_rows_mlm(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    path, _ = save_tiny(tmp_path / "m.bin", vocab)
    old = torch.load(path, weights_only=True)
    new = adapt(tmp_path, vocab, path)
    old_tokens = SPECIALS + CHARS
    for key in ("embedding.word_embedding.weight", "target.mlm_linear_2.weight",
                "target.mlm_linear_2.bias"):
        assert new[key].size(0) == len(NEW_TOKENS)
        for index, token in enumerate(NEW_TOKENS):
            if token in old_tokens:
                assert torch.equal(new[key][index], old[key][old_tokens.index(token)]), (key, token)
        fresh = new[key][[NEW_TOKENS.index("新"), NEW_TOKENS.index("表")]]
        assert fresh.abs().max() < 0.2 and fresh.std() > 0
    assert list(new) == list(old)
    assert torch.equal(new["encoder.transformer.0.feed_forward.linear_1.weight"],
                       old["encoder.transformer.0.feed_forward.linear_1.weight"])
    # reproducible with --seed, different without it
    again = adapt(tmp_path, vocab, path, name="again.bin")
    other = adapt(tmp_path, vocab, path, seed=4, name="other.bin")
    key = "embedding.word_embedding.weight"
    assert torch.equal(again[key], new[key]) and not torch.equal(other[key], new[key])


def test_adapter_lm_keeps_tied_weights(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    path, _ = save_tiny(tmp_path / "lm.bin", vocab, target="lm", encoder="gpt", tie_weights=True)
    new = adapt(tmp_path, vocab, path)
    assert new["target.output_layer.weight"].size(0) == len(NEW_TOKENS)
    assert new["target.output_layer.bias"].size(0) == len(NEW_TOKENS)
    assert torch.equal(new["target.output_layer.weight"], new["embedding.word_embedding.weight"])
    # the adapted checkpoint loads into a model built on the new vocabulary
    from _scripts_data import tiny_model
    model = tiny_model(str(tmp_path / "new_vocab.txt"), target="lm", encoder="gpt",
                       tie_weights=True)
    model.load_state_dict(new, strict=True)
