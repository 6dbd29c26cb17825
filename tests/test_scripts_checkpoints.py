"""scripts/average_model.py and scripts/multi_single_convert.py on tiny checkpoints."""
import subprocess
import sys

import pytest
import torch

from _scripts_data import save_tiny, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import average_model  # noqa: E402
import multi_single_convert  # noqa: E402


@pytest.fixture
def vocab(tmp_path):
    return write_vocab(tmp_path / "vocab.txt")


def test_average_is_the_mean(tmp_path, vocab):
    paths = [save_tiny(tmp_path / f"m{i}.bin", vocab, seed=i)[0] for i in range(3)]
    out = tmp_path / "avg.bin"
    average_model.main(["--model_list_path", *paths, "--output_model_path", str(out)])
    states = [torch.load(p, weights_only=True) for p in paths]
    avg = torch.load(out, weights_only=True)
    assert list(avg) == list(states[0])
    for key in avg:
        expected = (states[0][key].double() + states[1][key].double() + states[2][key].double()) / 3
        assert torch.allclose(avg[key].double(), expected, atol=1e-7), key
        assert avg[key].dtype == states[0][key].dtype


def test_average_keeps_tied_weights_tied(tmp_path, vocab):
    paths = [save_tiny(tmp_path / f"m{i}.bin", vocab, target="lm", seed=i, encoder="gpt",
                       tie_weights=True)[0] for i in range(2)]
    out = tmp_path / "avg.bin"
    average_model.main(["--model_list_path", *paths, "--output_model_path", str(out)])
    avg = torch.load(out, weights_only=True)
    output, word = avg["target.output_layer.weight"], avg["embedding.word_embedding.weight"]
    assert output.data_ptr() == word.data_ptr()


def test_average_refuses_other_keys_or_shapes(tmp_path, vocab, capsys):
    a, _ = save_tiny(tmp_path / "a.bin", vocab)
    b, _ = save_tiny(tmp_path / "b.bin", vocab, target="mlm")
    out = tmp_path / "avg.bin"
    with pytest.raises(SystemExit) as exit_info:
        average_model.main(["--model_list_path", a, b, "--output_model_path", str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "target.nsp_linear_1" in err and "a.bin" in err and "b.bin" in err
    c, _ = save_tiny(tmp_path / "c.bin", vocab, feedforward_size=24)
    with pytest.raises(SystemExit):
        average_model.main(["--model_list_path", a, c, "--output_model_path", str(out)])
    err = capsys.readouterr().err
    assert "feed_forward.linear_1" in err and "[32, 16]" in err and "[24, 16]" in err
    assert not out.exists()


def test_multi_single_round_trip(tmp_path, vocab, capsys):
    single, _ = save_tiny(tmp_path / "single.bin", vocab)
    multi, back = tmp_path / "multi.bin", tmp_path / "back.bin"
    multi_single_convert.main(["--input_model_path", single, "--output_model_path", str(multi),
                               "--add_module_prefix"])
    state = torch.load(multi, weights_only=True)
    assert all(k.startswith("module.") for k in state)
    multi_single_convert.main(["--input_model_path", str(multi), "--output_model_path",
                               str(back), "--delete_module_prefix"])
    original, restored = torch.load(single, weights_only=True), torch.load(back, weights_only=True)
    assert list(original) == list(restored)
    assert all(torch.equal(original[k], restored[k]) for k in original)
    # a checkpoint already in the target form is written unchanged (UER-py wrote nothing)
    multi_single_convert.main(["--input_model_path", single, "--output_model_path",
                               str(tmp_path / "same.bin"), "--delete_module_prefix"])
    assert "0 of" in capsys.readouterr().out


def test_multi_single_needs_exactly_one_mode(tmp_path, vocab):
    single, _ = save_tiny(tmp_path / "single.bin", vocab)
    for flags in ([], ["--add_module_prefix", "--delete_module_prefix"]):
        result = subprocess.run([sys.executable, "scripts/multi_single_convert.py",
                                 "--input_model_path", single, "--output_model_path",
                                 str(tmp_path / "o.bin"), *flags],
                                cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 1
    result = subprocess.run([sys.executable, "scripts/multi_single_convert.py", "--help"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "--delete_module_prefix" in result.stdout
    result = subprocess.run([sys.executable, "scripts/average_model.py", "--model_list_path",
                             str(tmp_path / "nope.bin"), "--output_model_path",
                             str(tmp_path / "o.bin")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
