"""run_ner.py and inference/run_ner_infer.py: label maps, reading, loss, windows, end to end."""
import json
import random
import shutil
import sys

import pytest
import torch
import torch.nn.functional as F

from _finetune_data import FILLER, write_config, write_tsv
from tests.conftest import REPO

import run_ner
from uer.errors import UerError
from uer.finetune.engine import Engine
from uer.finetune.tasks.ner import LabelMap, NerTagger, NerTask, TaggedSentence, read_ner
from uer.model import model_args
from uer.vocab import Vocab

sys.path.insert(0, str(REPO / "inference"))
import run_ner_infer  # noqa: E402

LABEL2ID = {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4}
PERSON_FIRST, PERSON_REST = "王李张", "明华"
PLACE_FIRST, PLACE_REST = "京沪", "市"


def easy_ner_rows(count, seed, length=(6, 14)):
    """Entities are marked by their characters: a model that learns each character's tag wins."""
    rng = random.Random(seed)
    filler = [c for c in FILLER if c not in PERSON_FIRST + PERSON_REST + PLACE_FIRST + PLACE_REST]
    rows = []
    for _ in range(count):
        tokens, tags = [], []
        for _ in range(rng.randrange(*length)):
            roll = rng.random()
            if roll < 0.12:
                tokens += [rng.choice(PERSON_FIRST)] + [rng.choice(PERSON_REST)] * rng.randrange(1, 3)
                tags += ["B-PER"] + ["I-PER"] * (len(tokens) - len(tags) - 1)
            elif roll < 0.22:
                tokens += [rng.choice(PLACE_FIRST), PLACE_REST]
                tags += ["B-LOC", "I-LOC"]
            else:
                tokens.append(rng.choice(filler))
                tags.append("O")
        rows.append((" ".join(tokens), " ".join(tags)))
    return rows


def write_label2id(path, mapping=LABEL2ID):
    path.write_text(json.dumps(mapping), encoding="utf-8")
    return str(path)


def tiny_vocab():
    chars = sorted(set(FILLER + PERSON_FIRST + PERSON_REST + PLACE_FIRST + PLACE_REST))
    return Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars)


# --- label maps and files ------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    ("{}", "label2id is empty"),
    ('{"B-PER": 0, "I-PER": 1}', "no 'O' tag"),
    ('["O"]', "must be a JSON object"),
    ('{"O": 0, "B": 2}', "ids must be 0..1"),
    ('{"O": 0, "B": "1"}', "ids must be integers"),
    ('{"O": 0, "[PAD]": 1}', r"must not contain '\[PAD\]'"),
    ("{not json", "not a JSON file"),
])
def test_bad_label2id_is_refused(tmp_path, content, message):
    path = tmp_path / "label2id.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UerError, match=message):
        LabelMap.from_file(str(path))


def test_label_map_adds_pad_last(tmp_path):
    label_map = LabelMap.from_file(write_label2id(tmp_path / "l.json"))
    assert label_map.labels_num == len(LABEL2ID) + 1
    assert label_map.tags[label_map.pad_id] == "[PAD]"
    assert label_map.names([0, 3, 4]) == ["O", "B-LOC", "I-LOC"]


def test_reader_checks_tags_and_counts(tmp_path):
    vocab = tiny_vocab()
    label_map = LabelMap(LABEL2ID)
    bad_tag = write_tsv(tmp_path / "a.tsv", ["text_a", "label"], [("王 明", "B-PER I-PER"),
                                                                  ("京 市", "B-GPE O")])
    with pytest.raises(UerError, match=r"a.tsv:3: tag 'B-GPE' is not in"):
        read_ner(bad_tag, vocab, label_map)
    bad_count = write_tsv(tmp_path / "b.tsv", ["text_a", "label"], [("王 明 华", "B-PER I-PER")])
    with pytest.raises(UerError, match=r"b.tsv:2: 3 tokens but 2 tags"):
        read_ner(bad_count, vocab, label_map)
    pad_tag = write_tsv(tmp_path / "c.tsv", ["text_a", "label"], [("王", "[PAD]")])
    with pytest.raises(UerError, match="tag '\\[PAD\\]' is not in"):
        read_ner(pad_tag, vocab, label_map)
    good = write_tsv(tmp_path / "d.tsv", ["label", "text_a"], [("B-PER I-PER O", "王 明 Q")])
    (example,) = read_ner(good, vocab, label_map, max_tokens=2)
    assert example.ids == [vocab.get("王"), vocab.get("明")] and example.tags == [1, 2]
    (full,) = read_ner(good, vocab)  # inference: no labels, no cut; unknown token -> [UNK]
    assert full.ids[-1] == vocab.unk_id and full.tags is None


# --- task mechanics -------------------------------------------------------------------------
def tiny_model(crf=False, seed=0):
    torch.manual_seed(seed)
    args = model_args(dict(hidden_size=16, emb_size=16, feedforward_size=32, heads_num=2,
                           layers_num=1, dropout=0.0, hidden_act="gelu"), tiny_vocab())
    return NerTagger(args, len(LABEL2ID) + 1, crf=crf)


def test_collate_layout_and_loss_on_real_tokens_only():
    vocab = tiny_vocab()
    task = NerTask(LabelMap(LABEL2ID), vocab, seq_length=16)
    inputs = [TaggedSentence([7, 8, 9], [1, 2, 0]), TaggedSentence([10], [3])]
    batch = task.collate(inputs)
    assert batch["src"].tolist() == [[vocab.cls_id, 7, 8, 9, vocab.sep_id],
                                     [vocab.cls_id, 10, vocab.sep_id, 0, 0]]
    assert batch["seg"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch["token_mask"].tolist() == [[True, True, True, False], [True, False, False, False]]
    model = tiny_model()
    logits = model(batch["src"], batch["seg"])[:, 1:]
    expected = F.cross_entropy(torch.cat([logits[0, :3], logits[1, :1]]),
                               torch.tensor([1, 2, 0, 3]))
    assert task.loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-5)
    # Changing the tags of padding / [SEP] positions changes nothing.
    batch["tags"][1, 1:] = 0
    assert task.loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("crf", [False, True])
def test_long_rows_are_tagged_in_windows_never_pad(tmp_path, crf):
    import argparse

    vocab = tiny_vocab()
    task = NerTask(LabelMap(LABEL2ID), vocab, seq_length=6, crf=crf)
    args = argparse.Namespace(batch_size=3, fp16=False, fp16_opt_level="O1",
                              amp_dtype="auto", learning_rate=1e-3)
    engine = Engine(args, task, tiny_model(crf=crf))
    long = TaggedSentence(list(range(5, 5 + 11)))
    assert [len(w.ids) for w in task.inputs(long)] == [4, 4, 3]
    outputs = engine.predict([long, TaggedSentence([5, 6]), TaggedSentence([])])
    assert [len(tags) for tags in outputs] == [11, 2, 0]
    assert all(0 <= t < len(LABEL2ID) for tags in outputs for t in tags)  # never [PAD]
    # Each window is tagged as if it were a row of its own.
    pieces = engine.predict(task.inputs(long))
    assert sum(pieces, []) == outputs[0]


# --- end to end -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ner_data(tmp_path_factory):
    vocab_path = REPO.parent / "shared" / "data" / "vocab" / "google_zh_vocab.txt"
    if not vocab_path.exists():
        pytest.skip("shared vocabulary not available")
    tmp = tmp_path_factory.mktemp("ner")
    long_row = easy_ner_rows(1, seed=9, length=(30, 31))
    return {
        "train": write_tsv(tmp / "train.tsv", ["text_a", "label"], easy_ner_rows(300, seed=1)),
        "dev": write_tsv(tmp / "dev.tsv", ["text_a", "label"], easy_ner_rows(60, seed=2)),
        "test": write_tsv(tmp / "test.tsv", ["text_a", "label"],
                          easy_ner_rows(40, seed=3) + long_row),
        "nolabel": write_tsv(tmp / "nolabel.tsv", ["text_a"],
                             [(t,) for t, _ in easy_ner_rows(20, seed=4) + long_row]),
        "label2id": write_label2id(tmp / "label2id.json"),
        "config": write_config(tmp / "tiny.json"), "dir": tmp, "vocab": str(vocab_path),
    }


def ner_argv(data, model_path, **extra):
    argv = ["--train_path", data["train"], "--dev_path", data["dev"], "--test_path", data["test"],
            "--label2id_path", data["label2id"], "--vocab_path", data["vocab"],
            "--config_path", data["config"], "--output_model_path", str(model_path),
            "--batch_size", "16", "--seq_length", "24", "--learning_rate", "5e-3",
            "--epochs_num", "4", "--report_steps", "10"]
    for key, value in extra.items():
        argv += [f"--{key}"] + ([] if value is True else [str(value)])
    return argv


def final_f1(log):
    return float(log.rsplit("Report precision, recall, and f1:\n", 1)[1].split("\n")[0]
                 .split(", ")[2])


@pytest.mark.parametrize("crf", [False, True])
def test_train_then_infer(ner_data, capsys, crf):
    model_path = ner_data["dir"] / f"ner{'_crf' if crf else ''}.bin"
    extra = {"crf_target": True} if crf else {}
    run_ner.main(ner_argv(ner_data, model_path, **extra))
    log = capsys.readouterr().out
    assert "Test set evaluation." in log and "micro avg" in log
    assert final_f1(log) > 0.8, log
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    assert state["output_layer.weight"].shape == (len(LABEL2ID) + 1, 32)
    assert ("crf.transitions" in state) == crf
    prediction = ner_data["dir"] / f"pred{crf}.txt"
    run_ner_infer.main(["--load_model_path", str(model_path), "--vocab_path", ner_data["vocab"],
                        "--config_path", ner_data["config"], "--label2id_path",
                        ner_data["label2id"], "--test_path", ner_data["nolabel"],
                        "--prediction_path", str(prediction), "--seq_length", "24",
                        *(["--crf_target"] if crf else [])])
    lines = prediction.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "pred_label" and lines[-1] == ""
    texts = [line.split("\t")[0] for line in open(ner_data["nolabel"], encoding="utf-8")][1:]
    assert len(lines) - 2 == len(texts)
    for text, tags in zip(texts, lines[1:-1]):
        assert len(tags.split(" ")) == len(text.strip("\n").split(" "))  # the 30+ token row too
        assert set(tags.split(" ")) <= set(LABEL2ID)
    # A wrong --crf_target is named, not a key dump. (Omitting it is checked on a copy without
    # the .json sidecar: with the sidecar, the saved --crf_target is the default.)
    flipped = [] if crf else ["--crf_target"]
    checked = model_path
    if crf:
        checked = ner_data["dir"] / "ner_crf_no_sidecar.bin"
        shutil.copyfile(model_path, checked)
    with pytest.raises(SystemExit) as exit_info:
        run_ner_infer.main(["--load_model_path", str(checked), "--vocab_path",
                            ner_data["vocab"], "--config_path", ner_data["config"],
                            "--label2id_path", ner_data["label2id"], "--test_path",
                            ner_data["nolabel"], "--prediction_path",
                            str(ner_data["dir"] / "never.txt"), *flipped])
    assert exit_info.value.code == 1
    assert "--crf_target" in capsys.readouterr().err
    assert not (ner_data["dir"] / "never.txt").exists()


def test_errors_exit_one_line_before_training(ner_data, tmp_path, capsys):
    bad = write_tsv(tmp_path / "bad.tsv", ["text_a", "label"], [("王 明", "B-PER")])
    for argv, message in [
        (ner_argv(ner_data, tmp_path / "m.bin") + ["--train_path", bad], "bad.tsv:2: 2 tokens but 1 tags"),
        (ner_argv(ner_data, tmp_path / "m.bin") + ["--label2id_path", str(tmp_path / "none.json")],
         "label2id file not found"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run_ner.main(argv)
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
        assert "Start training." not in capsys.readouterr().out
    assert not (tmp_path / "m.bin").exists()


def test_wrong_tag_count_checkpoint_is_refused(ner_data, tmp_path, capsys):
    model_path = ner_data["dir"] / "ner.bin"
    if not model_path.exists():
        pytest.skip("needs test_train_then_infer")
    fewer = write_label2id(tmp_path / "fewer.json", {"O": 0, "B-PER": 1, "I-PER": 2})
    # The model's sidecar holds its label map: another one is named against it.
    with pytest.raises(SystemExit):
        run_ner_infer.main(["--load_model_path", str(model_path), "--vocab_path",
                            ner_data["vocab"], "--config_path", ner_data["config"],
                            "--label2id_path", fewer, "--test_path", ner_data["nolabel"],
                            "--prediction_path", str(tmp_path / "p.txt")])
    assert f"{fewer}: label2id {{'O': 0, 'B-PER': 1, 'I-PER': 2}} differs from the one " \
        f"{model_path} was fine-tuned with" in capsys.readouterr().err
    # Without the sidecar (a UER-py checkpoint) the tag count is checked against the weights.
    legacy = tmp_path / "legacy.bin"
    shutil.copyfile(model_path, legacy)
    with pytest.raises(SystemExit):
        run_ner_infer.main(["--load_model_path", str(legacy), "--vocab_path",
                            ner_data["vocab"], "--config_path", ner_data["config"],
                            "--label2id_path", fewer, "--test_path", ner_data["nolabel"],
                            "--prediction_path", str(tmp_path / "p.txt")])
    assert "fine-tuned with 5 tags but --label2id_path has 3" in capsys.readouterr().err


def test_fp16_trains_with_crf(ner_data, tmp_path, capsys):
    # UER-py's run_ner crashed on --fp16 (an undefined name); here it is bf16 autocast on CPU.
    model_path = tmp_path / "fp16.bin"
    run_ner.main(ner_argv(ner_data, model_path, fp16=True, amp_dtype="bfloat16", epochs_num=1,
                          crf_target=True))
    log = capsys.readouterr().out
    assert model_path.exists() and "Report precision, recall, and f1:" in log
