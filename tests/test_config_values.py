"""Config values and typed options are checked where they enter: a wrong type or range is one
`error:` line naming the key (or option) and the config file, exit code 1, before any work (the
dataset and data files of these runs do not even exist)."""
import json
import os
import re

import pytest

import pretrain
import run_classifier
from pretrain_helpers import TINY_CONFIG
from uer.errors import UerError

# (encoder, config changes, expected text after "<file>: ")
BAD_CONFIGS = [
    ("bert", {"heads_num": "four"}, "config key 'heads_num' must be an integer >= 1, got 'four' (encoder bert)"),
    ("bert", {"layers_num": 0}, "config key 'layers_num' must be an integer >= 1, got 0 (encoder bert)"),
    ("bert", {"layers_num": -2}, "config key 'layers_num' must be an integer >= 1, got -2"),
    ("bert", {"emb_size": 64.5}, "config key 'emb_size' must be an integer >= 1, got 64.5 (embedding bert)"),
    ("bert", {"hidden_size": 30, "emb_size": 30, "heads_num": 4},
     "config key 'hidden_size' (30) must be a multiple of 'heads_num' (4) (encoder bert)"),
    ("bert", {"feedforward_size": "big"}, "config key 'feedforward_size' must be an integer >= 1"),
    ("bert", {"hidden_act": 3}, "config key 'hidden_act' must be one of gelu, relu, got 3 (encoder bert)"),
    ("synt", {"hidden_act": "swish", "seq_length": 16},
     "config key 'hidden_act' must be one of gelu, relu, got 'swish' (encoder synt)"),
    ("bert", {"layernorm": "torch"}, "config key 'layernorm' must be one of uer, standard, got 'torch'"),
    ("bert", {"layernorm_eps": -1}, "config key 'layernorm_eps' must be a number > 0, got -1"),
    ("bert", {"emb_size": True}, "config key 'emb_size' must be an integer >= 1, got True"),
    ("gpt", {"layers_num": 0}, "config key 'layers_num' must be an integer >= 1, got 0 (encoder gpt)"),
    ("cnn", {"kernel_size": 0}, "config key 'kernel_size' must be an integer >= 1, got 0 (encoder cnn)"),
    ("cnn", {"layers_num": "two"}, "config key 'layers_num' must be an integer >= 1, got 'two' (encoder cnn)"),
    ("gatedcnn", {"block_size": 0}, "config key 'block_size' must be an integer >= 1, got 0 (encoder gatedcnn)"),
    ("gatedcnn", {"kernel_size": 2.0}, "config key 'kernel_size' must be an integer >= 1, got 2.0"),
    ("lstm", {"hidden_size": -1}, "config key 'hidden_size' must be an integer >= 1, got -1"),
    ("gru", {"layers_num": 0}, "config key 'layers_num' must be an integer >= 1, got 0 (encoder gru)"),
    ("bilstm", {"layers_num": 1.5}, "config key 'layers_num' must be an integer >= 1, got 1.5 (encoder bilstm)"),
    ("rcnn", {"kernel_size": -3}, "config key 'kernel_size' must be an integer >= 1, got -3 (encoder rcnn)"),
    ("crnn", {"emb_size": 0}, "config key 'emb_size' must be an integer >= 1, got 0"),
    ("attn", {"heads_num": 0}, "config key 'heads_num' must be an integer >= 1, got 0 (encoder attn)"),
    ("synt", {"synt_type": "sparse", "seq_length": 16},
     "config key 'synt_type' must be one of dense, random, got 'sparse' (encoder synt)"),
    ("synt", {"seq_length": 0}, "config key 'seq_length' must be an integer >= 1, got 0 (encoder synt)"),
    ("bert", {"dropout": 1.5}, "config key 'dropout' must be in [0, 1], got 1.5"),
    ("lstm", {"dropout": -0.1}, "config key 'dropout' must be in [0, 1], got -0.1"),
    ("bert", {"learning_rate": "fast"}, "config key 'learning_rate' must be a number, got 'fast'"),
    ("bert", {"learning_rate": -1}, "config key 'learning_rate' must be greater than 0, got -1"),
    ("bert", {"total_steps": 10.5}, "config key 'total_steps' must be an integer, got 10.5"),
]

BAD_PRETRAIN_OPTIONS = [
    (["--learning_rate", "-1"], "--learning_rate must be greater than 0, got -1.0"),
    (["--learning_rate", "0"], "--learning_rate must be greater than 0, got 0.0"),
    (["--warmup", "-0.1"], "--warmup must be in [0, 1], got -0.1"),
    (["--warmup", "1.5"], "--warmup must be in [0, 1], got 1.5"),
    (["--total_steps", "0"], "--total_steps must be at least 1, got 0"),
    (["--batch_size", "-4"], "--batch_size must be at least 1, got -4"),
    (["--accumulation_steps", "0"], "--accumulation_steps must be at least 1, got 0"),
    (["--instances_buffer_size", "0"], "--instances_buffer_size must be at least 1, got 0"),
    (["--beta1", "1.5"], "--beta1 must be in [0, 1], got 1.5"),
    (["--max_grad_norm", "-1"], "--max_grad_norm must be at least 0, got -1.0"),
    (["--span_geo_prob", "0"], "--span_geo_prob must be greater than 0, got 0.0"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1], got 1.5"),
]

BAD_FINETUNE_OPTIONS = [
    (["--learning_rate", "-1"], "--learning_rate must be greater than 0, got -1.0"),
    (["--warmup", "-0.5"], "--warmup must be in [0, 1], got -0.5"),
    (["--epochs_num", "0"], "--epochs_num must be at least 1, got 0"),
    (["--batch_size", "0"], "--batch_size must be at least 1, got 0"),
    (["--seq_length", "2"], "--seq_length must be at least 3, got 2"),
    (["--dropout", "2"], "--dropout must be in [0, 1], got 2.0"),
    (["--soft_alpha", "1.5"], "--soft_alpha must be in [0, 1], got 1.5"),
    (["--report_steps", "0"], "--report_steps must be at least 1, got 0"),
]


def config_file(tmp_path, **changes):
    path = str(tmp_path / "bad_config.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dict(TINY_CONFIG, **changes), handle)
    return path


def pretrain_argv(tmp_path, vocab_path, config, *extra):
    return ["--dataset_path", str(tmp_path / "absent.dataset"), "--vocab_path", vocab_path,
            "--output_model_path", str(tmp_path / "model.bin"), "--config_path", config, *extra]


def finetune_argv(tmp_path, vocab_path, config, *extra):
    return ["--train_path", str(tmp_path / "absent_train.tsv"), "--dev_path",
            str(tmp_path / "absent_dev.tsv"), "--vocab_path", vocab_path, "--output_model_path",
            str(tmp_path / "model.bin"), "--config_path", config, *extra]


def assert_one_error_line(main, argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected in lines[0], lines[0]
    return lines[0]


SCRIPTS = {"pretrain": (pretrain.main, pretrain_argv),
           "run_classifier": (run_classifier.main, finetune_argv)}
# Fine-tuning reads the same declarations; a third of the config cases (no pre-training option).
CONFIG_CASES = ([("pretrain", *case) for case in BAD_CONFIGS]
                + [("run_classifier", *case) for case in BAD_CONFIGS
                   if not {"learning_rate", "total_steps"} & set(case[1])][::3])
OPTION_CASES = ([("pretrain", *case) for case in BAD_PRETRAIN_OPTIONS]
                + [("run_classifier", *case) for case in BAD_FINETUNE_OPTIONS])


@pytest.mark.parametrize("script,encoder,changes,expected", CONFIG_CASES,
                         ids=[f"{s}-{e}-{'-'.join(c)}" for s, e, c, _ in CONFIG_CASES])
def test_bad_config_value_is_one_line_naming_key_and_file(script, encoder, changes, expected,
                                                          tmp_path, zh_vocab_path, capsys):
    main, make_argv = SCRIPTS[script]
    config = config_file(tmp_path, **changes)
    line = assert_one_error_line(
        main, make_argv(tmp_path, zh_vocab_path, config, "--encoder", encoder), expected, capsys)
    assert line.startswith(f"error: {config}: config key '")
    assert not os.path.exists(tmp_path / "model.bin")


@pytest.mark.parametrize("script,options,expected", OPTION_CASES,
                         ids=[f"{s} {' '.join(o)}" for s, o, _ in OPTION_CASES])
def test_bad_option_value_is_one_line_naming_it(script, options, expected, tmp_path,
                                                zh_vocab_path, capsys):
    main, make_argv = SCRIPTS[script]
    argv = make_argv(tmp_path, zh_vocab_path, config_file(tmp_path), *options)
    assert assert_one_error_line(main, argv, expected, capsys) == f"error: {expected}"


def test_a_missing_key_names_the_key_and_the_component(tmp_path, zh_vocab_path, capsys):
    config = {key: value for key, value in TINY_CONFIG.items() if key != "layers_num"}
    path = str(tmp_path / "no_layers.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    import uer.trainer

    args = pretrain.parse_args(pretrain_argv(tmp_path, zh_vocab_path, path, "--encoder", "cnn"))
    with pytest.raises(UerError, match=re.escape(
            "config key 'layers_num' is required by encoder cnn (set it in --config_path)")):
        uer.trainer.prepare_model(args)


def test_good_values_of_every_shipped_config_pass(tmp_path, zh_vocab_path):
    """The configs in models/ are valid for the encoder they are meant for."""
    from conftest import REPO

    for name, encoder in (("bert_tiny_config.json", "bert"), ("cnn_config.json", "cnn"),
                          ("gatedcnn_9_config.json", "gatedcnn"), ("rnn_config.json", "lstm"),
                          ("birnn_config.json", "bilstm"), ("synt_dense_base_config.json", "synt"),
                          ("albert_base_config.json", "bert"), ("google_config.json", "bert")):
        args = pretrain.parse_args(pretrain_argv(tmp_path, zh_vocab_path,
                                                 str(REPO / "models" / name), "--encoder",
                                                 encoder))
        assert args.encoder == encoder
