"""HuggingFace <-> UER converters: every input form, numerical exactness on real text against
transformers, the layer-count error, round trips, from_pretrained on the output, fine-tuning a
converted model end to end."""
import json
import os
import sys

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from _convert_helpers import (HIDDEN, TINY, convert, hf_config, hf_outputs,  # noqa: E402
                              max_diff, perturb, run_uer, save_bin, uer_model, uer_outputs)
from _convert_helpers import batch, hf_pretraining, vocab  # noqa: E402,F401  (fixtures)
from conftest import REPO  # noqa: E402
from uer.model import build_model, model_args  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import convert_bert_from_huggingface_to_uer as hf2uer  # noqa: E402
import convert_bert_from_uer_to_huggingface as uer2hf  # noqa: E402

transformers.logging.set_verbosity_error()


# ---- the LayerNorm config key -------------------------------------------------------------

def test_layernorm_config_key_selects_the_formula(vocab):
    from uer.errors import UerError
    from uer.layers.layer_norm import LayerNorm, StandardLayerNorm, build_layer_norm

    def norms(model):
        return {type(m) for m in model.modules() if isinstance(m, (LayerNorm, StandardLayerNorm))}

    assert norms(build_model(model_args(TINY, vocab))) == {LayerNorm}  # UER-py's by default
    assert norms(build_model(model_args(dict(TINY, layernorm="standard"), vocab))) == {
        StandardLayerNorm}
    norm = build_layer_norm(8, "standard", 1e-12)
    with torch.no_grad():
        norm.gamma.normal_()
        norm.beta.normal_()
    x = torch.randn(3, 8) * 5
    assert torch.equal(norm(x), F.layer_norm(x, (8,), norm.gamma, norm.beta, 1e-12))
    assert sorted(dict(norm.named_parameters())) == ["beta", "gamma"]
    with pytest.raises(UerError, match="config key 'layernorm' has unknown value 'torch'"):
        build_layer_norm(8, "torch")


# ---- HuggingFace -> UER ----------------------------------------------------------------------

def _input_forms(model, vocab, tmp):
    """(name, argv, target, output keys) for every input form the converter accepts."""
    state = model.state_dict()
    forms = []
    model.save_pretrained(tmp / "dir_safetensors")  # safetensors; tied decoder not stored
    forms.append(("dir_safetensors", [str(tmp / "dir_safetensors")], "bert",
                  ("hidden", "mlm", "nsp")))
    (tmp / "dir_bin").mkdir()
    model.config.to_json_file(tmp / "dir_bin" / "config.json")
    forms.append(("bin_beside_config", [save_bin(state, tmp / "dir_bin" / "pytorch_model.bin")],
                  "bert", ("hidden", "mlm", "nsp")))
    forms.append(("bin_no_config", [save_bin(state, tmp / "plain.bin"), "--heads_num", "2"],
                  "bert", ("hidden", "mlm", "nsp")))
    old_names = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                          "LayerNorm.beta"): v
                 for k, v in state.items()}
    forms.append(("gamma_beta", [save_bin(old_names, tmp / "old.bin"), "--heads_num", "2"],
                  "bert", ("hidden", "mlm", "nsp")))
    bare = model.bert.state_dict()  # BertModel: no "bert." prefix, no heads
    forms.append(("bert_model", [save_bin(bare, tmp / "bare.bin"), "--hf_config_path",
                                 str(tmp / "dir_bin" / "config.json")], "bert", ("hidden",)))
    prefixed = {"bert." + k: v for k, v in bare.items()}
    forms.append(("bert_model_prefixed", [save_bin(prefixed, tmp / "prefixed.bin"),
                                          "--heads_num", "2"], "bert", ("hidden",)))
    from safetensors.torch import save_file
    save_file({k: v.clone().contiguous() for k, v in bare.items()}, str(tmp / "bare.safetensors"))
    forms.append(("bert_model_safetensors", [str(tmp / "bare.safetensors"), "--heads_num", "2"],
                  "bert", ("hidden",)))
    return forms


def test_every_input_form_reproduces_transformers(hf_pretraining, vocab, batch, tmp_path):
    reference = hf_outputs(hf_pretraining, batch)
    for name, source, target, keys in _input_forms(hf_pretraining, vocab, tmp_path):
        output = tmp_path / f"{name}.bin"
        log = convert(hf2uer.main, ["--input_model_path", *source,
                                    "--output_model_path", str(output), "--target", target])
        config_path = tmp_path / f"{name}_config.json"
        assert f"Wrote the UER config to {config_path}" in log
        config = json.loads(config_path.read_text())
        assert config == dict(TINY, layernorm="standard", layernorm_eps=1e-12), name
        ours = uer_outputs(str(output), str(config_path), vocab, batch, strict=len(keys) == 3)
        diffs = max_diff(ours, reference, batch, keys)
        assert max(diffs.values()) < 1e-5, (name, diffs)
        if len(keys) == 1:
            assert "note: the source has no MLM head and no next-sentence layer" in log, name


def test_masked_lm_to_uer_mlm_target(hf_pretraining, vocab, batch, tmp_path):
    masked = transformers.BertForMaskedLM(hf_pretraining.config).eval()
    missing = masked.load_state_dict(hf_pretraining.state_dict(), strict=False).missing_keys
    assert not missing
    masked.save_pretrained(tmp_path / "mlm")
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "mlm"), "--output_model_path",
                          str(tmp_path / "mlm.bin"), "--target", "mlm"])
    state = torch.load(tmp_path / "mlm.bin", weights_only=True)
    assert not any(k.startswith("target.nsp") for k in state)
    ours = uer_outputs(str(tmp_path / "mlm.bin"), str(tmp_path / "mlm_config.json"), vocab, batch,
                       target="mlm")
    diffs = max_diff(ours, hf_outputs(masked, batch), batch, ("hidden", "mlm"))
    assert max(diffs.values()) < 1e-5, diffs


def test_untied_decoder_and_layer_count_error(vocab, batch, tmp_path, capsys):
    torch.manual_seed(3)
    model = perturb(transformers.BertForPreTraining(hf_config(vocab, tie_word_embeddings=False)), 4)
    assert not torch.equal(model.cls.predictions.decoder.weight,
                           model.bert.embeddings.word_embeddings.weight)
    model.save_pretrained(tmp_path / "untied")
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "untied"),
                          "--output_model_path", str(tmp_path / "untied.bin"), "--layers_num", "2"])
    ours = uer_outputs(str(tmp_path / "untied.bin"), str(tmp_path / "untied_config.json"), vocab,
                       batch)
    diffs = max_diff(ours, hf_outputs(model, batch), batch, ("hidden", "mlm", "nsp"))
    assert max(diffs.values()) < 1e-5, diffs

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        hf2uer.main(["--input_model_path", str(tmp_path / "untied"), "--output_model_path",
                     str(tmp_path / "never.bin"), "--layers_num", "12"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --layers_num 12 but ") and "has 2 transformer layers" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "never.bin").exists() and not (tmp_path / "never_config.json").exists()


def test_missing_heads_num_and_incomplete_model_are_errors(hf_pretraining, tmp_path, capsys):
    state = hf_pretraining.state_dict()
    with pytest.raises(SystemExit):
        hf2uer.main(["--input_model_path", save_bin(state, tmp_path / "x.bin"),
                     "--output_model_path", str(tmp_path / "never.bin")])
    assert "give --hf_config_path or --heads_num" in capsys.readouterr().err
    broken = {k: v for k, v in state.items() if "layer.1.output.dense" not in k}
    with pytest.raises(SystemExit):
        hf2uer.main(["--input_model_path", save_bin(broken, tmp_path / "b.bin"), "--heads_num",
                     "2", "--output_model_path", str(tmp_path / "never.bin")])
    err = capsys.readouterr().err
    assert "not a complete BERT model" in err and "bert.encoder.layer.1.output.dense.weight" in err
    assert not list(tmp_path.glob("never*")) and not list(tmp_path.glob(".never*"))


# ---- UER -> HuggingFace ----------------------------------------------------------------------

def test_uer_to_hf_loads_with_from_pretrained_and_matches(vocab, batch, tmp_path, zh_vocab_path):
    model, path, config_path = uer_model(vocab, tmp_path, "std", 5, layernorm="standard")
    out_dir = tmp_path / "hf_std"
    convert(uer2hf.main, ["--input_model_path", path, "--config_path", config_path,
                          "--output_model_path", str(out_dir), "--vocab_path", zh_vocab_path])
    assert sorted(os.listdir(out_dir)) == ["config.json", "model.safetensors", "vocab.txt"]
    hf, info = transformers.BertForPreTraining.from_pretrained(out_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert hf.config.tie_word_embeddings is False
    diffs = max_diff(hf_outputs(hf.eval(), batch), run_uer(model.eval(), batch), batch,
                     ("hidden", "mlm", "nsp"))
    assert max(diffs.values()) < 1e-5, diffs
    assert transformers.BertTokenizer.from_pretrained(out_dir).vocab_size == len(vocab)

    # Back to UER: every tensor restored exactly, and the config too.
    convert(hf2uer.main, ["--input_model_path", str(out_dir), "--output_model_path",
                          str(tmp_path / "back.bin")])
    original = torch.load(path, weights_only=True)
    back = torch.load(tmp_path / "back.bin", weights_only=True)
    assert original.keys() == back.keys()
    assert all(torch.equal(original[k], back[k]) for k in original)
    back_config = json.loads((tmp_path / "back_config.json").read_text())
    assert back_config == dict(TINY, layernorm="standard", layernorm_eps=1e-12)


def test_uer_formula_model_rescaled_or_copied(vocab, batch, tmp_path):
    """A UER-py-formula model (no layernorm key): rescaled gammas reproduce it in transformers;
    copied gammas round-trip bit-exactly but compute differently there."""
    model, path, config_path = uer_model(vocab, tmp_path, "uerln", 7, tied=True)
    reference = run_uer(model.eval(), batch)
    keys = ("hidden", "mlm", "nsp")
    log = convert(uer2hf.main, ["--input_model_path", path, "--config_path", config_path,
                                "--output_model_path", str(tmp_path / "rescaled"),
                                "--weights_format", "bin"])
    assert "gammas rescaled" in log
    assert os.path.isfile(tmp_path / "rescaled" / "pytorch_model.bin")
    hf, info = transformers.BertForPreTraining.from_pretrained(tmp_path / "rescaled",
                                                               output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert hf.eval().config.tie_word_embeddings is True
    diffs = max_diff(hf_outputs(hf, batch), reference, batch, keys)
    assert max(diffs.values()) < 1e-4, diffs  # about 1e-5 measured

    log = convert(uer2hf.main, ["--input_model_path", path, "--config_path", config_path,
                                "--output_model_path", str(tmp_path / "copied"),
                                "--uer_layernorm", "copy"])
    assert "warning: --uer_layernorm copy" in log
    hf = transformers.BertForPreTraining.from_pretrained(tmp_path / "copied").eval()
    assert max(max_diff(hf_outputs(hf, batch), reference, batch, keys).values()) > 1e-3
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "copied"),
                          "--output_model_path", str(tmp_path / "copied_back.bin")])
    original = torch.load(path, weights_only=True)
    back = torch.load(tmp_path / "copied_back.bin", weights_only=True)
    assert all(torch.equal(original[k], back[k]) for k in original)

    # --layernorm uer on the way back undoes the rescaling for UER-py's formula (approximately).
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "rescaled"), "--layernorm", "uer",
                          "--output_model_path", str(tmp_path / "uer_again.bin")])
    again_config = json.loads((tmp_path / "uer_again_config.json").read_text())
    assert "layernorm" not in again_config
    again = uer_outputs(str(tmp_path / "uer_again.bin"), str(tmp_path / "uer_again_config.json"),
                        vocab, batch)
    assert max(max_diff(again, reference, batch, keys).values()) < 1e-4


def test_mlm_target_and_fine_tuned_model_outputs(vocab, batch, tmp_path):
    model, path, config_path = uer_model(vocab, tmp_path, "std2", 9, layernorm="standard")
    convert(uer2hf.main, ["--input_model_path", path, "--config_path", config_path,
                          "--output_model_path", str(tmp_path / "file" / "model.safetensors"),
                          "--target", "mlm"])
    config = json.loads((tmp_path / "file" / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    hf, info = transformers.BertForMaskedLM.from_pretrained(tmp_path / "file",
                                                            output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    diffs = max_diff(hf_outputs(hf.eval(), batch), run_uer(model.eval(), batch), batch,
                     ("hidden", "mlm"))
    assert max(diffs.values()) < 1e-5, diffs

    # A fine-tuned checkpoint (no target.*): a bare BertModel; its head is reported, not copied.
    state = {k: v for k, v in torch.load(path, weights_only=True).items()
             if not k.startswith("target.")}
    state["output_layer_1.weight"] = torch.zeros(HIDDEN, HIDDEN)
    log = convert(uer2hf.main, ["--input_model_path", save_bin(state, tmp_path / "ft.bin"),
                                "--config_path", config_path, "--output_model_path",
                                str(tmp_path / "ft_hf")])
    assert "not converted: output_layer_1.weight" in log
    bare = transformers.BertModel.from_pretrained(tmp_path / "ft_hf", add_pooling_layer=False)
    with torch.no_grad():
        hidden = bare.eval()(**batch["hf"]).last_hidden_state
    assert (hidden - run_uer(model, batch)["hidden"])[batch["real"]].abs().max() < 1e-5


def test_uer_to_hf_errors(vocab, tmp_path, capsys):
    _, path, config_path = uer_model(vocab, tmp_path, "m", 11, layernorm="standard")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(dict(TINY, hidden_size=64, emb_size=64)))
    for argv, message in (
            (["--config_path", str(wrong)], "hidden_size is 64 but the checkpoint has 32"),
            (["--config_path", config_path, "--layers_num", "3"], "--layers_num 3 but "),
            (["--config_path", config_path, "--vocab_path",
              str(REPO / "models" / "reserved_vocab.txt")], "104 tokens but the model's vocabulary has 21128"),
    ):
        with pytest.raises(SystemExit):
            uer2hf.main(["--input_model_path", path, "--output_model_path",
                         str(tmp_path / "never")] + argv)
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "never").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# ---- end to end: HF -> UER -> fine-tune -> HF ----------------------------------------------

def test_fine_tune_a_converted_model_and_convert_back(hf_pretraining, vocab, batch, tmp_path,
                                                      zh_vocab_path):
    import run_classifier
    from _finetune_data import easy_rows, write_tsv

    hf_pretraining.save_pretrained(tmp_path / "hf")
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "hf"), "--output_model_path",
                          str(tmp_path / "uer.bin")])
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], easy_rows(48, seed=1))
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], easy_rows(16, seed=2))
    log = convert(run_classifier.main, [
        "--pretrained_model_path", str(tmp_path / "uer.bin"), "--config_path",
        str(tmp_path / "uer_config.json"), "--vocab_path", zh_vocab_path, "--train_path", train,
        "--dev_path", dev, "--output_model_path", str(tmp_path / "classifier.bin"),
        "--batch_size", "16", "--seq_length", "24", "--epochs_num", "1", "--dropout", "0.0"])
    assert "Loaded " in log and "missing 0" in log
    convert(uer2hf.main, ["--input_model_path", str(tmp_path / "classifier.bin"),
                          "--config_path", str(tmp_path / "uer_config.json"),
                          "--output_model_path", str(tmp_path / "hf_tuned")])
    tuned = transformers.BertModel.from_pretrained(tmp_path / "hf_tuned", add_pooling_layer=False)
    ours = uer_outputs(str(tmp_path / "classifier.bin"), str(tmp_path / "uer_config.json"),
                       vocab, batch, strict=False)
    with torch.no_grad():
        hidden = tuned.eval()(**batch["hf"]).last_hidden_state
    assert (hidden - ours["hidden"])[batch["real"]].abs().max() < 1e-5
    # Fine-tuning moved the encoder away from the source model.
    assert not torch.equal(tuned.encoder.layer[0].output.dense.weight,
                           hf_pretraining.bert.encoder.layer[0].output.dense.weight)
