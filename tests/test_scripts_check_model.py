"""scripts/check_model.py: a fitting checkpoint, prefixes, missing / unexpected / mismatched
keys."""
import subprocess
import sys

import pytest
import torch

from _scripts_data import save_tiny, write_tiny_config, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import check_model  # noqa: E402


@pytest.fixture
def files(tmp_path):
    return {"vocab": write_vocab(tmp_path / "vocab.txt"),
            "config": write_tiny_config(tmp_path / "tiny.json"), "dir": tmp_path}


def run(files, model, *extra):
    return check_model.main(["--input_model_path", model, "--vocab_path", files["vocab"],
                             "--config_path", files["config"], *extra])


def test_fitting_checkpoint(files, capsys):
    path, model = save_tiny(files["dir"] / "bert.bin", files["vocab"])
    run(files, path)
    out = capsys.readouterr().out
    assert "OK: the checkpoint fits" in out and "Prefix: none" in out
    assert "mlm" in out and "nsp" in out
    params = sum(p.numel() for p in model.parameters())
    assert f"{params:,} parameters" in out


def test_module_prefix_is_reported_and_still_fits(files, capsys):
    path, model = save_tiny(files["dir"] / "bert.bin", files["vocab"])
    prefixed = {"module." + k: v for k, v in torch.load(path, weights_only=True).items()}
    torch.save(prefixed, files["dir"] / "multi.bin")
    run(files, str(files["dir"] / "multi.bin"))
    out = capsys.readouterr().out
    assert "Prefix 'module.'" in out and "OK" in out


def test_wrong_target_and_shapes_exit_1(files, capsys):
    path, _ = save_tiny(files["dir"] / "mlm.bin", files["vocab"], target="mlm")
    with pytest.raises(SystemExit) as info:
        run(files, path)  # --target bert expects nsp heads
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "target.nsp_linear_1.weight" in captured.out and "Missing keys: 4" in captured.out
    assert captured.err.startswith("error: ") and "4 missing" in captured.err
    run(files, path, "--target", "mlm")
    assert "OK" in capsys.readouterr().out
    other = write_tiny_config(files["dir"] / "wide.json", feedforward_size=24)
    with pytest.raises(SystemExit):
        check_model.main(["--input_model_path", path, "--vocab_path", files["vocab"],
                          "--config_path", other, "--target", "mlm"])
    out = capsys.readouterr().out
    assert "feed_forward.linear_1.weight: checkpoint [32, 16], model [24, 16]" in out


def test_target_none_lists_finetuned_heads(files, capsys):
    path, _ = save_tiny(files["dir"] / "mlm.bin", files["vocab"], target="mlm")
    state = torch.load(path, weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("target.")}
    state["output_layer_1.weight"] = torch.zeros(16, 16)
    state["output_layer_2.weight"] = torch.zeros(2, 16)
    torch.save(state, files["dir"] / "cls.bin")
    run(files, str(files["dir"] / "cls.bin"), "--target", "none")
    out = capsys.readouterr().out
    assert "classifier/cmrc output_layer_1" in out and "OK" in out


def test_cli(files):
    result = subprocess.run([sys.executable, "scripts/check_model.py", "--help"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--input_model_path" in result.stdout
