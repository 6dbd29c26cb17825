"""End to end for the encoder zoo: tiny models trained for 30 steps on token ids of a real Chinese
corpus, through ``uer.model.build_model`` and the project's optimizer, must lower their loss.
(The CLI path, preprocess.py -> pretrain.py, is exercised at the bottom when both exist.)"""
import argparse
import re

import pytest
import torch

from conftest import shared_path
from uer.checkpoint import init_weights
from uer.model import build_model, model_args
from uer.optim import build_optimizer
from uer.tokenizers import str2tokenizer
from uer.vocab import Vocab

SEQ_LENGTH = 24
BATCH_SIZE = 8
STEPS = 20
TINY = dict(emb_size=32, hidden_size=32, feedforward_size=64, heads_num=4, layers_num=2,
            dropout=0.1, hidden_act="gelu", kernel_size=3, block_size=2, seq_length=SEQ_LENGTH,
            synt_type="dense")


@pytest.fixture(scope="module")
def corpus():
    """(vocab, [N, L] token ids) from the first lines of CLUECorpusSmall."""
    vocab_path = shared_path("vocab", "google_zh_vocab.txt")
    tokenizer = str2tokenizer["bert"](argparse.Namespace(vocab_path=vocab_path,
                                                         spm_model_path=None))
    ids = []
    with open(shared_path("corpora", "CLUECorpusSmall_sampled.txt"), encoding="utf-8") as handle:
        for line in handle:
            ids.extend(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line.strip())))
            if len(ids) > 4 * BATCH_SIZE * SEQ_LENGTH:
                break
    rows = torch.tensor(ids[:4 * BATCH_SIZE * SEQ_LENGTH]).view(-1, SEQ_LENGTH)
    return Vocab.from_file(vocab_path), rows


def make_batch(vocab, rows, target, step):
    """Instances laid out as SPEC §3.5-3.7 (lm: tgt = next token; bilm: next and previous)."""
    batch = rows[(step % 4) * BATCH_SIZE:(step % 4 + 1) * BATCH_SIZE]
    seg = torch.ones_like(batch)
    seg[0, -5:] = 0  # one padded row: padding must not break anything
    src = batch.masked_fill(seg == 0, 0)
    if target == "lm":
        tgt = torch.cat([src[:, 1:], torch.zeros_like(src[:, :1])], dim=1)
        return src, tgt.masked_fill(seg == 0, 0), seg
    if target == "bilm":
        fwd = torch.cat([src[:, 1:], torch.full_like(src[:, :1], vocab.sep_id)], dim=1)
        bwd = torch.cat([torch.full_like(src[:, :1], vocab.cls_id), src[:, :-1]], dim=1)
        return src, (fwd.masked_fill(seg == 0, 0), bwd.masked_fill(seg == 0, 0)), seg
    # mlm: every 5th position (shifted per row) masked, the same positions each epoch
    position = torch.arange(SEQ_LENGTH)[None, :] + torch.arange(BATCH_SIZE)[:, None]
    chosen = (position % 5 == 0) & (seg > 0)
    return src.masked_fill(chosen, vocab.mask_id), src.masked_fill(~chosen, 0), seg


def train_losses(vocab, rows, embedding, encoder, target, **options):
    args = model_args(TINY, vocab, embedding=embedding, encoder=encoder, target=target, **options)
    torch.manual_seed(7)
    model = build_model(args)
    init_weights(model)
    model.train()
    optimizer = build_optimizer(model, 3e-3)
    losses = []
    for step in range(STEPS):
        src, tgt, seg = make_batch(vocab, rows, target, step)
        loss_info = model(src, tgt, seg)
        loss = loss_info[0] + loss_info[1] if target == "bilm" else loss_info[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


COMBINATIONS = [
    ("word", "bilstm", "bilm", {}),  # ELMo
    ("word", "lstm", "lm", {}),
    ("word", "gru", "lm", {}),
    ("word", "gatedcnn", "lm", {}),
    ("word", "cnn", "lm", {}),
    ("bert", "rcnn", "lm", {}),
    ("bert", "crnn", "lm", {}),
    ("bert", "attn", "mlm", {}),
    ("bert", "synt", "mlm", {}),
    ("word", "lstm", "mlm", {"bidirectional": True}),
]


@pytest.mark.parametrize("embedding, encoder, target, options", COMBINATIONS,
                         ids=[f"{c[1]}-{c[2]}{'-bi' if c[3] else ''}" for c in COMBINATIONS])
def test_tiny_model_learns(corpus, embedding, encoder, target, options):
    vocab, rows = corpus
    losses = train_losses(vocab, rows, embedding, encoder, target, **options)
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert all(loss == loss for loss in losses)  # no NaN
    assert last < first - 0.5, (first, last)


# ----- the command-line path: preprocess.py -> pretrain.py -> run_classifier.py ---------------

CLI_CONFIG = dict(emb_size=32, hidden_size=64, feedforward_size=64, heads_num=4, layers_num=2,
                  dropout=0.1, hidden_act="gelu", kernel_size=3, block_size=2, seq_length=32)


def _write_head(source, path, lines):
    with open(source, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i >= lines:
                break
            out.write(line)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import json

    import preprocess

    root = tmp_path_factory.mktemp("zoo")
    _write_head(shared_path("corpora", "CLUECorpusSmall_sampled.txt"), root / "corpus.txt", 120)
    _write_head(shared_path("datasets", "book_review", "train.tsv"), root / "train.tsv", 49)
    _write_head(shared_path("datasets", "book_review", "dev.tsv"), root / "dev.tsv", 17)
    (root / "tiny.json").write_text(json.dumps(CLI_CONFIG))
    for target in ("bilm", "lm"):
        preprocess.main(["--corpus_path", str(root / "corpus.txt"), "--vocab_path", VOCAB(),
                         "--dataset_path", str(root / f"{target}.pt"), "--target", target,
                         "--seq_length", "32"])
    return root


def VOCAB():
    return shared_path("vocab", "google_zh_vocab.txt")


def _pretrain(workdir, encoder, target, steps=20, extra=(), name=None):
    """Run pretrain.py in-process; returns (checkpoint path, reported losses, report text)."""
    import contextlib
    import io

    import pretrain

    output = workdir / (name or f"{encoder}_{target}.bin")
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        pretrain.main(["--dataset_path", str(workdir / f"{target}.pt"), "--vocab_path", VOCAB(),
                       "--config_path", str(workdir / "tiny.json"),
                       "--output_model_path", str(output),
                       "--embedding", "word", "--encoder", encoder, "--target", target,
                       "--total_steps", str(steps), "--report_steps", "5",
                       "--save_checkpoint_steps", str(steps), "--batch_size", "8",
                       "--learning_rate", "5e-3", "--warmup", "0.1", *extra])
    report = report.getvalue()
    losses = [float(x) for x in re.findall(r"\| loss +([0-9.]+)", report)]
    return output, losses, report


@pytest.fixture(scope="module")
def pretrained(workdir):
    """ELMo (bilstm + bilm) and an LSTM LM pre-trained through the CLI, by encoder name."""
    return {encoder: _pretrain(workdir, encoder, target)
            for encoder, target in (("bilstm", "bilm"), ("lstm", "lm"))}


@pytest.mark.parametrize("encoder", ["bilstm", "lstm"])
def test_cli_pretraining_lowers_loss(pretrained, encoder):
    output, losses, report = pretrained[encoder]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.3, report
    if encoder == "bilstm":
        assert "loss_forward" in report and "acc_backward" in report
    state = torch.load(output, map_location="cpu", weights_only=True)
    prefix = "encoder.rnn_forward." if encoder == "bilstm" else "encoder.rnn."
    assert any(key.startswith(prefix) for key in state)
    assert (output.parent / f"{output.name}-20").exists()


def test_cli_lstm_lm_with_group_by_length_learns(workdir):
    output, losses, report = _pretrain(workdir, "lstm", "lm", name="lstm_grouped.bin",
                                       extra=("--group_by_length",))
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.3, report
    assert output.exists()


@pytest.mark.parametrize("encoder, target", [("lstm", "lm"), ("bilstm", "bilm")])
def test_cli_rnn_under_bf16_autocast(workdir, encoder, target):
    # --amp_dtype bfloat16 forces autocast even on CPUs without native bf16.
    output, losses, report = _pretrain(workdir, encoder, target, steps=10, name=f"{encoder}_bf16.bin",
                                       extra=("--fp16", "--amp_dtype", "bfloat16"))
    assert "bf16" in report.lower() or "bfloat16" in report.lower(), report
    assert len(losses) == 2 and all(loss == loss and loss < 20 for loss in losses), report
    assert output.exists()


def test_cli_rnn_two_processes_gloo(workdir):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    output, losses, report = _pretrain(
        workdir, "lstm", "lm", steps=10, name="lstm_ddp.bin",
        extra=("--world_size", "2", "--gpu_ranks", "0", "1", "--backend", "gloo",
               "--master_ip", f"tcp://127.0.0.1:{port}"))
    state = torch.load(output, map_location="cpu", weights_only=True)
    assert "encoder.rnn.weight_ih_l0" in state and not any(k.startswith("module.") for k in state)


def test_cli_refuses_causal_lm_on_bilstm(workdir, capsys):
    import pretrain

    with pytest.raises(SystemExit) as exit_info:
        pretrain.main(["--dataset_path", str(workdir / "lm.pt"), "--vocab_path", VOCAB(),
                       "--config_path", str(workdir / "tiny.json"),
                       "--output_model_path", str(workdir / "never.bin"),
                       "--embedding", "word", "--encoder", "bilstm", "--target", "lm",
                       "--total_steps", "2"])
    assert exit_info.value.code == 1
    assert "error: --target lm with --encoder bilstm" in capsys.readouterr().err
    assert not (workdir / "never.bin").exists()


FINETUNE = [("lstm", "last"), ("bilstm", "first"), ("gru", "mean"), ("gatedcnn", "max"),
            ("cnn", "last"), ("attn", "first"), ("rcnn", "mean"), ("crnn", "max"),
            ("synt", "last")]


@pytest.mark.parametrize("encoder, pooling", FINETUNE)
def test_cli_finetuning_runs_for_every_encoder(workdir, pretrained, capsys, encoder, pooling):
    import run_classifier

    output = workdir / f"cls_{encoder}.bin"
    argv = ["--train_path", str(workdir / "train.tsv"), "--dev_path", str(workdir / "dev.tsv"),
            "--vocab_path", VOCAB(), "--config_path", str(workdir / "tiny.json"),
            "--embedding", "word" if encoder in pretrained else "bert", "--encoder", encoder,
            "--pooling", pooling, "--seq_length", "32", "--batch_size", "16",
            "--epochs_num", "1", "--learning_rate", "1e-3", "--output_model_path", str(output)]
    if encoder in pretrained:
        argv += ["--pretrained_model_path", str(pretrained[encoder][0])]
    run_classifier.main(argv)
    out = capsys.readouterr().out
    assert re.search(r"Acc\. \(Correct/Total\): [0-9.]+ \(\d+/16\)", out), out
    if encoder in pretrained:
        assert "missing 0; unexpected 0" in out
    state = torch.load(output, map_location="cpu", weights_only=True)
    assert "output_layer_2.weight" in state
    assert any(key.startswith("encoder.") for key in state)
