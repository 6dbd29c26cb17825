"""run_c3.py and inference/run_c3_infer.py: layout, masking of padded choices, errors, and a
tiny model that learns an easy synthetic multiple-choice task."""
import contextlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from _finetune_data import FILLER, TINY_CONFIG, write_config
from tests.conftest import REPO, shared_path

import run_c3
from uer.errors import UerError
from uer.finetune.tasks.c3 import (C3Task, ChoiceEncoder, ChoiceQuestion, MultipleChoice,
                                   read_c3)
from uer.model import model_args
from uer.seed import set_seed
from uer.vocab import Vocab

sys.path.insert(0, str(REPO / "inference"))
import run_c3_infer  # noqa: E402

CHOICE_CHARS = "甲乙丙丁戊己庚辛"
PLAIN = [c for c in FILLER if c not in CHOICE_CHARS]


# --- a character-level fake tokenizer: every character is one token, ids are visible --------

CHARS = "abcdefghijklmnopqrstuvwxyz\n?" + CHOICE_CHARS
TOY_VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(CHARS))
CLS, SEP = TOY_VOCAB.cls_id, TOY_VOCAB.sep_id


class CharIds:
    def encode(self, text):
        return [TOY_VOCAB.w2i.get(c, TOY_VOCAB.unk_id) for c in text]


def ids(text):
    return CharIds().encode(text)


def toy_encoder(seq_length=64):
    return ChoiceEncoder(CharIds(), TOY_VOCAB, seq_length)


def write_json(path, data):
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def question(text, choices, answer=None, qid=None):
    item = {"question": text, "choice": list(choices)}
    if answer is not None:
        item["answer"] = answer
    if qid is not None:
        item["id"] = qid
    return item


# --- encoding --------------------------------------------------------------------------------

def test_layout_segments_and_truncation_order():
    full, first_len = toy_encoder(64).encode("ab", "q?", "xyz")
    assert full == [CLS] + ids("ab") + [SEP] + ids("q?") + [SEP] + ids("xyz") + [SEP]
    assert first_len == 1 + 2 + 1 + 2 + 1  # [CLS] choice [SEP] question [SEP]
    # 4 special tokens + 2 + 2 = 8: at 10 the passage keeps its head "xy" ...
    assert toy_encoder(10).encode("ab", "q?", "xyz") == (
        [CLS] + ids("ab") + [SEP] + ids("q?") + [SEP] + ids("xy") + [SEP], 7)
    # ... at 8 it is gone, and only then is the question's tail cut.
    assert toy_encoder(8).encode("ab", "q?", "xyz")[0] == [CLS] + ids("ab") + [SEP] + ids("q?") + [SEP, SEP]
    assert toy_encoder(7).encode("ab", "q?", "xyz") == ([CLS] + ids("ab") + [SEP] + ids("q") + [SEP, SEP], 6)
    assert toy_encoder(6).encode("abc", "q?", "xyz") == ([CLS] + ids("ab") + [SEP, SEP, SEP], 5)
    for length in range(4, 20):
        assert len(toy_encoder(length).encode("abc", "qq?", "xyzxyzxyz")[0]) <= length
    with pytest.raises(UerError, match="--seq_length must be at least 4"):
        toy_encoder(3)


def test_reader_joins_lines_lowercases_labels_and_numbers_questions(tmp_path):
    path = write_json(tmp_path / "c3.json", [
        [["AB", "c"], [question("Q?", ["x", "y"], "y"), question("z?", ["a", "b", "c"], "a")],
         "doc-1"],
        [["de"], [question("e?", ["d", "e", "d", "f"], "d", qid=77)], "doc-2"],
    ])
    examples = read_c3(path, toy_encoder(), 4)
    assert [ex.label for ex in examples] == [1, 0, 0]  # the first equal choice
    assert [ex.qid for ex in examples] == [0, 1, 77]  # no id: the 0-based position in the file
    ids_, first_len = examples[0].choices[1]
    assert ids_ == [CLS] + ids("y") + [SEP] + ids("q?") + [SEP] + ids("ab\nc") + [SEP]
    assert first_len == 6
    assert len(examples[1]) == len(examples[1].choices[0][0]) == 4 + 1 + 2 + 4
    assert [len(ex.choices) for ex in examples] == [2, 3, 4]


def test_real_questions_keep_the_question_and_cut_the_passage(tmp_path, zh_vocab_path):
    from uer.tokenizers import BertTokenizer

    vocab = Vocab.from_file(zh_vocab_path)
    tokenizer = BertTokenizer(None, vocab)
    with open(shared_path("datasets", "c3", "dev.json"), encoding="utf-8") as handle:
        dev = json.load(handle)[:6]
    with open(shared_path("datasets", "c3", "test.json"), encoding="utf-8") as handle:
        test = json.load(handle)[:4]
    dev_path, test_path = write_json(tmp_path / "dev.json", dev), write_json(tmp_path / "test.json", test)
    examples = read_c3(dev_path, ChoiceEncoder(tokenizer, vocab, 48), 4)
    questions = [q for doc in dev for q in doc[1]]
    assert len(examples) == len(questions)
    for ex, q in zip(examples, questions):
        assert q["choice"][ex.label] == q["answer"]
        question_ids = tokenizer.encode(q["question"].lower())
        for (seq, first_len), choice in zip(ex.choices, q["choice"]):
            choice_ids = tokenizer.encode(choice.lower())
            assert len(seq) <= 48 and seq[0] == vocab.cls_id and seq[-1] == vocab.sep_id
            assert seq[:first_len] == [vocab.cls_id] + choice_ids + [vocab.sep_id] + question_ids + [vocab.sep_id]
    assert any(len(ex) == 48 for ex in examples)  # some passages were cut
    tests = read_c3(test_path, ChoiceEncoder(tokenizer, vocab, 48), 4, answers="optional")
    assert [ex.qid for ex in tests] == [q["id"] for doc in test for q in doc[1]]
    assert all(ex.label is None for ex in tests)
    with pytest.raises(UerError, match=r"question 1 \(document 1, question 1 of it, id 508\): has no 'answer'"):
        read_c3(test_path, ChoiceEncoder(tokenizer, vocab, 48), 4)


# --- batches, model and loss -----------------------------------------------------------------

def toy_questions():
    enc = toy_encoder()
    rows = [(["ab", "c"], "q?", "abcdef", 1), (["x", "yy", "zzz"], "w?", "xyz", 2),
            (["甲", "乙", "丙", "丁"], "?", "丙丁", 3)]
    return [ChoiceQuestion([enc.encode(c, q, p) for c in choices], label)
            for choices, q, p, label in rows]


def tiny_model(seed=0, **overrides):
    set_seed(seed)
    return MultipleChoice(model_args(dict(TINY_CONFIG, **overrides), TOY_VOCAB, dropout=0.0)).eval()


def test_collate_pads_choices_and_marks_them():
    items = toy_questions()
    batch = C3Task(4).collate(items)
    longest = max(len(item) for item in items)
    assert batch["src"].shape == batch["seg"].shape == (3, 4, longest)
    assert batch["choice_mask"].tolist() == [[True, True, False, False], [True, True, True, False],
                                             [True, True, True, True]]
    assert batch["label"].tolist() == [1, 2, 3]
    assert batch["src"][0, 2:].eq(0).all() and batch["seg"][0, 2:].eq(0).all()
    seq, first_len = items[1].choices[2]
    assert batch["src"][1, 2, :len(seq)].tolist() == seq
    assert batch["seg"][1, 2].tolist() == [1] * first_len + [2] * (len(seq) - first_len) + [0] * (longest - len(seq))
    assert "label" not in C3Task(4).collate([ChoiceQuestion(items[0].choices)])
    with pytest.raises(UerError, match="more than --max_choices_num 3"):
        C3Task(3).collate(items)


def test_padded_choices_never_win_and_get_zero_probability():
    items = toy_questions()
    model = tiny_model()
    with torch.no_grad():  # make the padded slots' would-be scores huge: they still cannot win
        model.output_layer.bias.fill_(100.0)
        logits = C3Task(4).forward(model, C3Task(4).collate(items))
    mask = C3Task(4).collate(items)["choice_mask"]
    assert logits.shape == (3, 4) and logits.dtype == torch.float32
    assert torch.isneginf(logits[~mask]).all() and torch.isfinite(logits[mask]).all()
    probs = torch.softmax(logits, dim=-1)
    assert probs[~mask].eq(0).all()
    assert probs.sum(dim=-1).tolist() == pytest.approx([1.0] * 3)
    counts = mask.sum(dim=1)
    assert (logits.argmax(dim=-1) < counts).all()
    # A question's scores do not depend on its batch-mates or on padding.
    with torch.no_grad():
        alone = C3Task(4).forward(model, C3Task(4).collate(items[:1]))
    assert torch.allclose(alone[0, :2], logits[0, :2], atol=1e-5)


def test_loss_is_cross_entropy_over_real_choices_only():
    items = toy_questions()
    task, model = C3Task(4), tiny_model(seed=1)
    batch = task.collate(items)
    with torch.no_grad():
        logits = task.forward(model, batch)
        loss = task.loss(model, batch)
    expected = []
    for row, item in enumerate(items):
        real = logits[row, :len(item.choices)]
        expected.append(F.cross_entropy(real.unsqueeze(0), torch.tensor([item.label])))
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)
    # Gradients are finite despite the -inf logits.
    model.train()
    task.loss(model, batch).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.output_layer.weight.grad.abs().sum() > 0


def test_score_prints_uer_accuracy_line(capsys):
    task = C3Task(4)
    items = [ChoiceQuestion([([2, 3], 1)] * 2, label) for label in (0, 1, 1)]
    inf = float("-inf")
    outputs = [torch.tensor([1.0, 0.0, inf, inf]), torch.tensor([0.0, 2.0, inf, inf]),
               torch.tensor([3.0, 2.0, inf, inf])]
    assert task.score(items, outputs) == pytest.approx(2 / 3)
    assert capsys.readouterr().out == "Acc. (Correct/Total): 0.6667 (2/3) \n"
    task.score(items, outputs, detailed=True)
    out = capsys.readouterr().out
    assert out.startswith("Confusion matrix:\n") and "Label 3: 0.000, 0.000, 0.000" in out


# --- options ---------------------------------------------------------------------------------

def test_options_follow_uer_py(tmp_path, zh_vocab_path):
    config = tmp_path / "nodrop.json"
    config.write_text(json.dumps({k: v for k, v in TINY_CONFIG.items() if k != "dropout"}))
    args = run_c3.parse_args(["--train_path", "t", "--dev_path", "d", "--vocab_path", zh_vocab_path,
                              "--config_path", str(config)])
    assert (args.batch_size, args.seq_length, args.learning_rate, args.dropout, args.epochs_num,
            args.max_choices_num, args.tokenizer, args.test_path) == (
        32, 512, 2e-5, 0.2, 8, 4, "bert", None)
    assert args.output_model_path == "./models/multichoice_model.bin"
    assert not hasattr(args, "pooling")
    with pytest.raises(SystemExit):
        run_c3.parse_args(["--train_path", "t", "--dev_path", "d", "--vocab_path", zh_vocab_path,
                           "--pooling", "mean"])
    args = run_c3_infer.parse_args(["--load_model_path", "m", "--vocab_path", zh_vocab_path,
                                    "--test_path", "t", "--prediction_path", "p",
                                    "--config_path", str(config)])
    assert (args.batch_size, args.seq_length, args.max_choices_num, args.fp16) == (32, 512, 4, False)


# --- end to end ------------------------------------------------------------------------------

def easy_docs(count, seed, answers=True, ids=False, repeats=4):
    """The correct choice is the one character (of 2-4) that appears in the passage (``repeats``
    times, among 3-7 other characters); chance is about 0.36."""
    rng = random.Random(seed)
    docs = []
    for index in range(count):
        k = rng.randrange(2, 5)
        choices = rng.sample(CHOICE_CHARS, k)
        answer = rng.randrange(k)
        text = [rng.choice(PLAIN) for _ in range(rng.randrange(3, 8))]
        for _ in range(repeats):
            text.insert(rng.randrange(len(text) + 1), choices[answer])
        half = len(text) // 2
        docs.append([["".join(text[:half]), "".join(text[half:])],
                     [question("哪个字在文中?", choices, choices[answer] if answers else None,
                               qid=f"q{index}" if ids else None)], f"doc{index}"])
    return docs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    vocab_path = os.path.join(REPO.parent, "shared", "data", "vocab", "google_zh_vocab.txt")
    if not os.path.exists(vocab_path):
        pytest.skip("shared vocabulary not available")
    tmp = tmp_path_factory.mktemp("c3")
    data = {
        "train": write_json(tmp / "train.json", easy_docs(450, seed=1)),
        "dev": write_json(tmp / "dev.json", easy_docs(90, seed=2)),
        "test_noanswer": write_json(tmp / "test.json", easy_docs(25, seed=3, answers=False, ids=True)),
        "config": write_config(tmp / "tiny.json"),
        "model": str(tmp / "c3.bin"), "dir": tmp, "vocab": vocab_path,
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_c3.main(train_argv(data, test_path=data["dev"]))
    data["log"] = out.getvalue()
    return data


def train_argv(data, **extra):
    argv = ["--train_path", data["train"], "--dev_path", data["dev"], "--vocab_path", data["vocab"],
            "--config_path", data["config"], "--output_model_path", data["model"],
            "--batch_size", "16", "--seq_length", "40", "--learning_rate", "1e-3",
            "--epochs_num", "10", "--report_steps", "10"]
    for key, value in extra.items():
        argv += [f"--{key}"] + ([] if value is True else [str(value)])
    return argv


def infer_argv(data, test_path, prediction_path, *extra):
    return ["--load_model_path", data["model"], "--vocab_path", data["vocab"], "--config_path",
            data["config"], "--test_path", test_path, "--prediction_path", str(prediction_path),
            "--seq_length", "40"] + list(extra)


def accuracies(log):
    return [float(part.split()[0]) for part in log.split("Acc. (Correct/Total): ")[1:]]


def test_training_learns_easy_task_and_saves_uer_keys(trained):
    log = trained["log"]
    assert "Batch size:  16\nThe number of training instances: 450\nStart training." in log
    assert "Epoch id: 1, Training steps: 20, Avg loss: " in log
    dev_scores = accuracies(log.split("Test set evaluation.")[0])
    assert len(dev_scores) == 10  # selection ran after every epoch (UER-py crashed after the first)
    # Chance is about 0.36; over 8 other data/model seeds the best dev accuracy was 0.64-0.82.
    assert max(dev_scores) > 0.55, log
    assert "Test set evaluation.\nConfusion matrix:" in log
    assert accuracies(log)[-1] == max(dev_scores)  # the test set (= dev) saw the best model
    state = torch.load(trained["model"], map_location="cpu", weights_only=True)
    assert state["output_layer.weight"].shape == (1, 32) and state["output_layer.bias"].shape == (1,)
    assert "embedding.segment_embedding.weight" in state
    assert "encoder.transformer.1.layer_norm_2.gamma" in state
    assert not any(key.startswith(("module.", "target.")) or "output_layer_" in key for key in state)


def test_inference_writes_json_lines_in_file_order(trained, capsys):
    out_path = trained["dir"] / "pred.jsonl"
    run_c3_infer.main(infer_argv(trained, trained["test_noanswer"], out_path))
    assert "Acc." not in capsys.readouterr().out  # no answers, no accuracy
    with open(trained["test_noanswer"], encoding="utf-8") as handle:
        docs = json.load(handle)
    lines = out_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25
    for line, doc in zip(lines, docs):
        record = json.loads(line)
        assert list(record) == ["id", "label"] and record["id"] == doc[1][0]["id"]
        assert 0 <= record["label"] < len(doc[1][0]["choice"])
        assert line == json.dumps(record)
    # With answers (dev): the accuracy of the best model; ids are positions; --fp16 works.
    run_c3_infer.main(infer_argv(trained, trained["dev"], out_path, "--batch_size", "7"))
    dev_acc = accuracies(capsys.readouterr().out)
    assert dev_acc == [max(accuracies(trained["log"].split("Test set evaluation.")[0]))]
    records = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == list(range(90))
    run_c3_infer.main(infer_argv(trained, trained["dev"], trained["dir"] / "fp16.jsonl", "--fp16"))
    assert len(accuracies(capsys.readouterr().out)) == 1


def test_non_ascii_ids_are_escaped(trained, tmp_path):
    path = write_json(tmp_path / "t.json", [[["甲乙"], [question("?", ["甲", "丙"], qid="问1")]]])
    out_path = tmp_path / "p.jsonl"
    run_c3_infer.main(infer_argv(trained, path, out_path))
    text = out_path.read_text(encoding="utf-8")
    assert text.startswith('{"id": "\\u95ee1", "label": ') and text.endswith("}\n")


def test_inference_refuses_checkpoint_that_does_not_fit(trained, tmp_path, capsys):
    never = tmp_path / "never.jsonl"
    bigger = write_config(tmp_path / "three_layers.json", layers_num=3)
    argv = infer_argv(trained, trained["dev"], never)
    # The model's sidecar knows its layers_num: a config that contradicts it is named.
    with pytest.raises(SystemExit) as exit_info:
        run_c3_infer.main(argv[:5] + [bigger] + argv[6:])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and "\n" not in err
    assert err.startswith(f"error: --config_path {bigger} does not fit {trained['model']}: "
                          "layers_num is 3 here but 2 in the model")
    # Without the sidecar (a UER-py checkpoint), the strict load names the missing tensors.
    legacy = str(tmp_path / "legacy.bin")
    shutil.copyfile(trained["model"], legacy)
    with pytest.raises(SystemExit) as exit_info:
        run_c3_infer.main(["--load_model_path", legacy] + argv[2:5] + [bigger] + argv[6:])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and "\n" not in err
    assert "checkpoint does not match the model" in err and "missing 16: encoder.transformer.2" in err
    state = torch.load(trained["model"], map_location="cpu", weights_only=True)
    state["output_layer.weight"] = torch.zeros(2, 32)
    state["output_layer.bias"] = torch.zeros(2)
    other = str(tmp_path / "classifier.bin")
    torch.save(state, other)
    with pytest.raises(SystemExit):
        run_c3_infer.main(["--load_model_path", other] + argv[2:])
    assert capsys.readouterr().err.strip() == (
        f"error: {other}: not a C3 multiple-choice checkpoint (output_layer.weight has shape "
        "[2, 32], not [1, hidden_size]; was it saved by run_c3.py?)")
    assert not never.exists()


# --- errors ----------------------------------------------------------------------------------

BAD_FILES = [
    ([[["ab"], [question("q", ["a", "b"], "a"), question("q", ["a", "b"], "c", qid=9)]]],
     r"question 2 \(document 1, question 2 of it, id 9\): answer 'c' is not one of its choices \['a', 'b'\]"),
    ([[["ab"], [question("q", ["a"], "a")]], [["c"], [question("q", list("abcde"), "a")]]],
     r"question 2 \(document 2, question 1 of it\): has 5 choices, more than --max_choices_num 4"),
    ([[["ab"], [question("q", [], "a")]]], r"question 1 \(document 1, question 1 of it\): has no choices"),
    ('[[["ab"], [{"question": "q", "choice": ["a"]]]', "not valid JSON .*line 1 column"),
    ({"data": []}, "expected a JSON list of documents"),
    ([[["ab"]]], r"document 1: expected \[\[passage lines\], \[questions\], doc id\]"),
    ([[["ab"], [question("q", ["a"], "a")]], ["ab", []]], "document 2: the passage .* list of strings"),
    ([[["ab"], [{"question": "q", "choice": "ab", "answer": "a"}]]], "'choice' is missing or not a list"),
    ([[["ab"], [{"choice": ["a"], "answer": "a"}]]], "'question' is missing"),
    ([[["ab"], [question("q", ["a", "b"])]]], "question 1 .*: has no 'answer'"),
    ([], "contains no questions"),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
def test_bad_training_file_is_one_line_error_before_training(trained, tmp_path, capsys, content,
                                                             message):
    bad = tmp_path / "bad.json"
    if isinstance(content, str):
        bad.write_text(content, encoding="utf-8")
    else:
        write_json(bad, content)
    model = tmp_path / "never.bin"
    with pytest.raises(SystemExit) as exit_info:
        run_c3.main(train_argv(dict(trained, dev=str(bad), model=str(model))))
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    err = captured.err.strip()
    assert "\n" not in err and err.startswith(f"error: {bad}")
    assert re.search(message, err), err
    assert "Start training." not in captured.out and not model.exists()
    assert os.listdir(tmp_path) == ["bad.json"]


def test_max_choices_num_and_inference_errors(trained, tmp_path, capsys):
    model = tmp_path / "never.bin"
    with pytest.raises(SystemExit):
        run_c3.main(train_argv(dict(trained, model=str(model)), max_choices_num=1))
    assert capsys.readouterr().err.strip() == "error: --max_choices_num must be at least 2, got 1"
    out_path = tmp_path / "p.jsonl"
    with pytest.raises(SystemExit):
        run_c3_infer.main(infer_argv(trained, trained["dev"], out_path, "--max_choices_num", "1"))
    assert capsys.readouterr().err.strip() == "error: --max_choices_num must be at least 2, got 1"
    # Inference accepts a file without answers but still checks the ones it has, and the choices.
    bad = write_json(tmp_path / "bad.json", [[["ab"], [question("q", ["a", "b"], qid=1),
                                                       question("q", ["a", "b"], "x", qid=2)]]])
    with pytest.raises(SystemExit):
        run_c3_infer.main(infer_argv(trained, bad, out_path))
    assert "id 2): answer 'x' is not one of its choices" in capsys.readouterr().err
    three = write_json(tmp_path / "three.json", [[["ab"], [question("q", ["a", "b", "c"], qid=1)]]])
    with pytest.raises(SystemExit):
        run_c3_infer.main(infer_argv(trained, three, out_path, "--max_choices_num", "2"))
    assert "has 3 choices, more than --max_choices_num 2" in capsys.readouterr().err
    assert not model.exists() and not out_path.exists()


def run_script(script, argv):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / script)] + argv, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_scripts_exit_1_with_one_line(trained, tmp_path):
    bad = write_json(tmp_path / "bad.json", [[["ab"], [question("q", ["a", "b"], "z")]]])
    result = run_script("run_c3.py", train_argv(dict(trained, train=bad, model=str(tmp_path / "m.bin"))))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {bad}: question 1 (document 1, question 1 of it): "
                                     "answer 'z' is not one of its choices ['a', 'b']")
    result = run_script("inference/run_c3_infer.py",
                        infer_argv(trained, str(tmp_path / "missing.json"), tmp_path / "p.jsonl"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.json'}: file not found"
    assert sorted(os.listdir(tmp_path)) == ["bad.json"]
