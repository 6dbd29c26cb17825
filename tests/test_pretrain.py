"""pretrain.py end to end on CPU with tiny models and datasets built by preprocess.py."""
import os
import re
import shutil

import pytest
import torch

import pretrain
from pretrain_helpers import state_of, tiny_dataset, write_config

STEP_HEAD = r"^\| +(\d+)/ +(\d+) steps\| +\d+\.\d\d tokens/s\| loss +(\d+\.\d\d)"
LINE_TAIL = {
    "bert": r"\| loss_mlm: \d+\.\d{3}\| loss_nsp: \d+\.\d{3}\| acc_mlm: \d\.\d{3}\| acc_nsp: \d\.\d{3}$",
    "albert": r"\| loss_mlm: \d+\.\d{3}\| loss_sop: \d+\.\d{3}\| acc_mlm: \d\.\d{3}\| acc_sop: \d\.\d{3}$",
    "mlm": r"\| acc: \d\.\d{3}$",
    "lm": r"\| acc: \d\.\d{3}$",
    "cls": r"\| acc: \d\.\d{3}$",
}

# README combinations: (target, preprocess extras, pretrain extras)
COMBINATIONS = {
    "bert": ("bert", (), ()),
    "roberta": ("mlm", ("--dynamic_masking",), ()),
    "albert": ("albert", (), ("--factorized_embedding_parameterization", "--parameter_sharing")),
    "spanbert": ("bert", ("--dynamic_masking",), ("--span_masking",)),
    "gpt": ("lm", (), ("--encoder", "gpt")),
    "cls": ("cls", (), ()),
}


def run_pretrain(tmp_path, vocab_path, target, dataset, *extra, steps=20, config=None):
    output = os.path.join(tmp_path, "out", "model.bin")
    argv = ["--dataset_path", dataset, "--vocab_path", vocab_path, "--output_model_path", output,
            "--config_path", config or write_config(tmp_path), "--target", target,
            "--total_steps", str(steps), "--report_steps", "5", "--save_checkpoint_steps", "10",
            "--batch_size", "4", "--learning_rate", "3e-3", "--warmup", "0.1", *extra]
    pretrain.main(argv)
    return output


def report_losses(out, target):
    pattern = re.compile(STEP_HEAD + LINE_TAIL[target], re.MULTILINE)
    return [(int(m.group(1)), float(m.group(3))) for m in pattern.finditer(out)]


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_each_target_trains_on_cpu(name, tmp_path, zh_vocab_path, capsys):
    target, prep, extra = COMBINATIONS[name]
    if target == "cls":
        # 16 reviews in full batches: a tiny random model can only fit sentiment by memorising.
        dataset = tiny_dataset(zh_vocab_path, "cls", corpus="book_review_cls.txt", lines=16)
        extra = ("--batch_size", "16")
    else:
        dataset = tiny_dataset(zh_vocab_path, target, *prep)
    capsys.readouterr()
    output = run_pretrain(tmp_path, zh_vocab_path, target, dataset, *extra)
    out = capsys.readouterr().out
    losses = report_losses(out, target)
    assert [step for step, _ in losses] == [5, 10, 15, 20], out
    assert losses[-1][1] < losses[0][1], out
    assert out.startswith("Vocabulary size:  21128\n")
    assert "Using CPU mode for training." in out
    assert sorted(os.listdir(os.path.dirname(output))) == [
        "model.bin", "model.bin-10", "model.bin-10.json", "model.bin-20", "model.bin-20.json",
        "model.bin.json", "model.bin.state"]
    state = state_of(output)
    assert all(torch.isfinite(v).all() for v in state.values())
    if name == "albert":
        assert "encoder.linear.weight" in state and "encoder.transformer.layer_norm_1.gamma" in state


def test_incremental_pretraining_reports_missing_and_unexpected(tmp_path, zh_vocab_path, capsys):
    bert = run_pretrain(tmp_path / "bert", zh_vocab_path, "bert",
                        tiny_dataset(zh_vocab_path, "bert"), steps=2)
    capsys.readouterr()
    run_pretrain(tmp_path / "mlm", zh_vocab_path, "mlm",
                 tiny_dataset(zh_vocab_path, "mlm", "--dynamic_masking"),
                 "--pretrained_model_path", bert, steps=2)
    out = capsys.readouterr().out
    assert re.search(r"missing 0; unexpected 4: target\.nsp_linear_1\.weight", out), out
    run_pretrain(tmp_path / "albert", zh_vocab_path, "albert",
                 tiny_dataset(zh_vocab_path, "albert"), "--pretrained_model_path", bert, steps=2)
    out = capsys.readouterr().out
    assert re.search(r"missing 4: target\.sop_linear_1\.weight", out), out
    # the loaded encoder really came from the bert run
    start = state_of(bert)["encoder.transformer.0.feed_forward.linear_1.weight"]
    after = state_of(tmp_path / "albert" / "out" / "model.bin")
    assert (after["encoder.transformer.0.feed_forward.linear_1.weight"] - start).abs().max() < 0.05


def test_shape_mismatch_names_the_parameter(tmp_path, zh_vocab_path, capsys):
    dataset = tiny_dataset(zh_vocab_path, "bert")
    bert = run_pretrain(tmp_path / "a", zh_vocab_path, "bert", dataset, steps=1)
    capsys.readouterr()
    wider = write_config(tmp_path, feedforward_size=48)
    with pytest.raises(SystemExit) as exit_info:
        run_pretrain(tmp_path / "b", zh_vocab_path, "bert", dataset,
                     "--pretrained_model_path", bert, config=wider)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err  # the model's sidecar names the config value
    assert f"does not fit {bert}: feedforward_size is 48 here but 64 in the model" in err
    legacy = tmp_path / "legacy.bin"  # a UER-py checkpoint (no sidecar): the tensor is named
    shutil.copyfile(bert, legacy)
    with pytest.raises(SystemExit) as exit_info:
        run_pretrain(tmp_path / "c", zh_vocab_path, "bert", dataset,
                     "--pretrained_model_path", str(legacy), config=wider)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "feed_forward.linear_1.weight" in err and "[64, 32]" in err and "[48, 32]" in err


def test_dataset_for_another_target_is_refused(tmp_path, zh_vocab_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_pretrain(tmp_path, zh_vocab_path, "mlm", tiny_dataset(zh_vocab_path, "bert"))
    assert exit_info.value.code == 1
    assert "was built for target bert, not mlm" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_parse_args_defaults_and_config_merge(tmp_path, zh_vocab_path):
    config = write_config(tmp_path)
    args = pretrain.parse_args(["--vocab_path", zh_vocab_path, "--output_model_path", "m.bin",
                                "--config_path", config, "--dropout", "0.3"])
    assert (args.total_steps, args.save_checkpoint_steps, args.report_steps) == (100000, 10000, 100)
    assert (args.batch_size, args.instances_buffer_size, args.accumulation_steps) == (32, 25600, 1)
    assert (args.learning_rate, args.warmup, args.beta1, args.beta2) == (2e-5, 0.1, 0.9, 0.999)
    assert (args.world_size, args.gpu_ranks, args.master_ip, args.backend) == (
        1, [], "tcp://localhost:12345", "nccl")
    assert (args.target, args.dataset_path, args.fp16_opt_level) == ("bert", "dataset.pt", "O1")
    assert args.dropout == 0.3 and args.hidden_size == 32  # typed option wins, config fills in
    assert len(args.vocab) == 21128
    assert pretrain.build_parser().parse_args(["--output_model_path", "m"]).config_path == \
        "models/bert_base_config.json"
