"""run_cmrc.py and inference/run_cmrc_infer.py: windows, labels, loss, decoding, errors, and a
tiny model trained end to end on an easy synthetic task."""
import contextlib
import io
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys

import pytest
import torch

from _finetune_data import FILLER, write_config
from tests.conftest import REPO, shared_path

import run_cmrc
from uer.errors import UerError
from uer.finetune.tasks.cmrc import (CharEncoder, CmrcExample, CmrcTask, best_span,
                                     padded_length, prediction_json, read_cmrc, window_spans)
from uer.heap import limit_heap_fragmentation
from uer.vocab import Vocab

sys.path.insert(0, str(REPO / "inference"))
import run_cmrc_infer  # noqa: E402

VOCAB = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", " "] + list("abcdefghij问题是"))
LINE = re.compile(r"Avg: \d+\.\d{4},F1:\d+\.\d{4},EM:\d+\.\d{4},Total:\d+,Skip:\d+")


def ids(text):
    return [VOCAB.get(c) for c in text]


def example(context="abcdefghij", answer=None, start=None, question="问题", vocab=VOCAB):
    return CmrcExample("q1", question, context, [answer] if answer else [], start,
                       CharEncoder(vocab))


def squad(context, qas):
    return {"version": "v1.0", "data": [{"id": "A", "title": "t", "paragraphs": [
        {"id": "P", "context": context, "qas": qas}]}]}


def qa(qid="q1", question="问题", text="de", start=3):
    return {"question": question, "id": qid, "answers": [{"text": text, "answer_start": start}]}


def write_json(path, document):
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- windows and labels --------------------------------------------------------------------
def test_window_spans_follow_uer_rule():
    assert window_spans(10, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 4)]
    assert window_spans(10, 4, 128) == [(0, 4), (4, 4), (8, 2)]  # stride capped at the length
    assert window_spans(5, 4, 3) == [(0, 4), (3, 2)]
    assert window_spans(4, 4, 2) == [(0, 4)]  # the first window reaches the end: no other
    assert window_spans(0, 4, 2) == []


def test_char_ids_lowercase_whitespace_and_unknown():
    encoder = CharEncoder(VOCAB)
    assert encoder.encode("aB \u3000\nZ").tolist() == ids("ab   ") + [VOCAB.unk_id]
    no_space = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    assert CharEncoder(no_space).encode("a a").tolist() == [5, 1, 5]


def test_window_layout_and_segments():
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=2)  # max_ctx = 9 - 2 - 3 = 4
    windows = task.inputs(example())
    assert [(w.offset, w.length) for w in windows] == [(0, 4), (2, 4), (4, 4), (6, 4)]
    cls, sep = VOCAB.cls_id, VOCAB.sep_id
    assert windows[1].ids.tolist() == [cls] + ids("问题") + [sep] + ids("cdef") + [sep]
    assert all(w.first_len == 4 and len(w) == 9 for w in windows)
    assert all(w.start is None for w in windows)  # no checked answer: no labels
    short = CmrcTask(VOCAB, seq_length=9).inputs(example(context="abc"))
    batch = task.collate([windows[0], short[0]])
    assert "start" not in batch
    assert batch["seg"].tolist() == [[1, 1, 1, 1, 2, 2, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2, 2, 0]]
    assert batch["src"][1].tolist()[-1] == 0


def test_batches_are_padded_to_a_few_lengths():
    assert [padded_length(n, 512) for n in (7, 16, 17, 100, 257, 500, 512)] == \
        [7, 16, 18, 104, 288, 512, 512]
    assert padded_length(100, 100) == 100 and padded_length(97, 100) == 100
    task = CmrcTask(VOCAB, seq_length=100)
    window = task.inputs(example(context="abcdefghijabcde"))[0]  # 4 + 15 + 1 = 20 positions
    batch = task.collate([window])
    assert batch["src"].shape == (1, 20)
    window = task.inputs(example(context="abcdefghijabcdefghijabc"))[0]  # 28 -> 28
    assert task.collate([window])["src"].shape == (1, 28)
    window = task.inputs(example(context="abcdefghijabcdefghijabcdefghija"))[0]  # 36 -> 36
    long_window = task.inputs(example(context="abcdefghij" * 3 + "ab"))[0]  # 37 -> 40
    batch = task.collate([window, long_window])
    assert batch["src"].shape == (2, 40)
    assert batch["seg"][0, 36:].tolist() == [0] * 4 and batch["src"][1, 37:].tolist() == [0] * 3
    assert limit_heap_fragmentation() == (platform.libc_ver()[0] == "glibc")


@pytest.mark.parametrize("mode, expected", [
    # Answer "de" (characters 3-4) in windows [0-3], [2-5], [4-7], [6-9]; passage at position 4.
    ("cls", [(0, 0), (5, 6), (0, 0), (0, 0)]),
    ("clip", [(7, 7), (5, 6), (4, 4), (0, 0)]),
])
def test_labels_inclusive_end_and_partial_answer_modes(mode, expected):
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=2, partial_answer=mode)
    windows = task.inputs(example(answer="de", start=3))
    assert [(w.start, w.end) for w in windows] == expected
    batch = task.collate(windows)
    assert batch["start"].tolist() == [s for s, _ in expected]
    assert batch["end"].tolist() == [e for _, e in expected]


def test_one_character_answer_has_start_equal_end():
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=2)
    windows = task.inputs(example(answer="h", start=7))
    assert [(w.start, w.end) for w in windows] == [(0, 0), (0, 0), (7, 7), (5, 5)]


def test_windows_are_cached_per_task_settings():
    ex = example(answer="de", start=3)
    cls_windows = CmrcTask(VOCAB, 9, 2, partial_answer="cls").inputs(ex)
    assert CmrcTask(VOCAB, 9, 2, partial_answer="cls").inputs(ex) is cls_windows
    assert CmrcTask(VOCAB, 9, 2, partial_answer="clip").inputs(ex)[0].start == 7


@pytest.mark.parametrize("stride", [128, 40])
def test_real_questions_windows_recover_the_answer(zh_vocab_path, stride):
    vocab = Vocab.from_file(zh_vocab_path)
    path = shared_path("datasets", "cmrc2018", "train_small.json")
    examples = read_cmrc(path, vocab, 100)
    assert len(examples) == 25
    for mode in ("cls", "clip"):
        task = CmrcTask(vocab, 100, stride, partial_answer=mode)
        for ex in examples:
            windows = task.inputs(ex)
            assert windows[0].offset == 0
            assert windows[-1].offset + windows[-1].length == len(ex.context)
            covered = set()
            for w in windows:
                assert len(w) <= 100 and w.first_len == len(ex.question) + 2
                assert w.ids[w.first_len:w.first_len + w.length].tolist() == \
                    ex.context_ids[w.offset:w.offset + w.length].tolist()
                covered.update(range(w.offset, w.offset + w.length))
                if w.start:
                    begin = w.offset + w.start - w.first_len
                    text = ex.context[begin:begin + w.end - w.start + 1]
                    assert text == ex.answers[0] if mode == "cls" else text in ex.answers[0]
            assert covered == set(range(len(ex.context)))
            start, end = ex.answer_start, ex.answer_end
            whole = any(w.offset <= start and end < w.offset + w.length for w in windows)
            # Without overlap (stride >= window) an answer on a border is in no window whole.
            assert any(w.start for w in windows) == (whole or mode == "clip")


# --- loss and decoding ---------------------------------------------------------------------
def test_loss_is_mean_of_start_and_end_ce_over_real_positions():
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=2)
    windows = [task.inputs(example(answer="de", start=3))[1],
               task.inputs(example(context="abc", answer="b", start=1))[0]]
    batch = task.collate(windows)
    torch.manual_seed(0)
    logits = torch.randn(2, 9, 2)
    logits[1, 8] = 50.0  # padding: must take no probability

    def model(src, seg):
        return logits

    expected = 0.0
    for row, (length, start, end) in enumerate([(9, 5, 6), (8, 5, 5)]):
        for column, gold in ((0, start), (1, end)):
            expected += -torch.log_softmax(logits[row, :length, column], 0)[gold] / 4
    assert task.loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


def window_logits(first_len, start, end, length=None):
    """[positions, 2] logits; ``start``/``end`` map passage offsets to values (others -5),
    the question part and the final [SEP] get high values the decoder must ignore."""
    length = length or max(list(start) + list(end)) + 1
    logits = torch.full((first_len + length + 1, 2), -5.0)
    logits[:first_len] = 9.0
    logits[-1] = 9.0
    for offset, value in start.items():
        logits[first_len + offset, 0] = value
    for offset, value in end.items():
        logits[first_len + offset, 1] = value
    return logits


def test_best_span_nbest_order_and_max_length():
    # Best start at 4 lies after the best end at 1; the second-best start (0) pairs with both.
    logits = window_logits(3, {4: 3.0, 0: 2.0}, {1: 2.5, 3: 1.0}, length=6)
    assert best_span(logits, 3, 6, 30, n_best=1) is None
    assert best_span(logits, 3, 6, 30, n_best=2) == (4.5, 0, 1)
    # A long span outscores a short one unless it exceeds max_answer_length.
    logits = window_logits(3, {0: 3.0, 2: 1.0}, {4: 3.0, 2: 0.5}, length=6)
    assert best_span(logits, 3, 6, 30) == (6.0, 0, 4)
    assert best_span(logits, 3, 6, 5) == (6.0, 0, 4)
    assert best_span(logits, 3, 6, 4) == (4.0, 2, 4)
    assert best_span(logits, 3, 6, 2) == (1.5, 2, 2)  # one-character span: start == end
    assert best_span(torch.zeros(4, 2), 3, 0, 30) is None


def test_combine_takes_best_window_and_original_characters():
    context = "aB cDeFGhij"
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=3, max_answer_length=4)
    ex = example(context=context)
    windows = task.inputs(ex)
    assert [(w.offset, w.length) for w in windows] == [(0, 4), (3, 4), (6, 4), (9, 2)]
    outputs = [window_logits(4, {0: 1.0}, {1: 1.0}, 4),   # "aB", score 2
               window_logits(4, {1: 2.0}, {2: 2.5}, 4),   # "De", score 4.5: the best
               window_logits(4, {0: 1.0}, {3: 1.5}, 4),   # "FGhi", score 2.5
               window_logits(4, {1: 4.0}, {0: 4.0}, 2)]   # valid spans score at most -1
    assert task.combine(ex, outputs) == "De"
    outputs[0] = window_logits(4, {1: 3.0}, {3: 3.0}, 4)  # "B c", score 6 < 8 below
    outputs[3] = window_logits(4, {1: 4.0}, {1: 4.0}, 2)  # one character "j", score 8
    assert task.combine(ex, outputs) == "j"
    outputs[3] = window_logits(4, {0: 1.0}, {1: 0.0}, 2)
    assert task.combine(ex, outputs) == "B c"  # whitespace and case from the passage
    narrow = CmrcTask(VOCAB, seq_length=9, doc_stride=3, n_best=1)
    reversed_ = [window_logits(4, {3: 5.0}, {0: 5.0}, 4) for _ in windows[:3]]
    reversed_.append(window_logits(4, {1: 5.0}, {0: 5.0}, 2))
    assert narrow.combine(ex, reversed_) is None


def test_score_prints_uer_line_and_counts_missing_predictions(capsys):
    examples = [example(answer="de", start=3), example(answer="h", start=7)]
    task = CmrcTask(VOCAB, seq_length=9, doc_stride=2)
    assert task.score(examples, ["de", None]) == pytest.approx(50.0)
    assert capsys.readouterr().out == "Avg: 50.0000,F1:50.0000,EM:50.0000,Total:2,Skip:1\n"
    examples[1].qid = "q2"
    assert prediction_json(examples, ["dé", None]) == '{\n    "q1": "dé",\n    "q2": ""\n}\n'


# --- errors --------------------------------------------------------------------------------
@pytest.fixture
def base(tmp_path, zh_vocab_path):
    good = write_json(tmp_path / "good.json", squad("abcdefghij", [qa()]))
    return {"dir": tmp_path, "good": good, "vocab": zh_vocab_path,
            "config": write_config(tmp_path / "tiny.json"), "model": tmp_path / "out.bin"}


def train_argv(base, train=None, dev=None, **extra):
    argv = ["--train_path", train or base["good"], "--dev_path", dev or base["good"],
            "--vocab_path", base["vocab"], "--config_path", base["config"],
            "--output_model_path", str(base["model"]), "--seq_length", "16"]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    return argv


BAD_TRAINING_FILES = [
    (squad("abcdefghij", [qa(start=10)]),
     "question q1: answer_start 10 is outside the context (10 characters)"),
    (squad("abcdefghij", [qa(start=-1)]),
     "question q1: answer_start -1 is outside the context (10 characters)"),
    (squad("abcdefghij", [qa(start=2)]),
     "question q1: the context at answer_start 2 reads 'cd', not the answer 'de'; "
     "the answer occurs at 3"),
    (squad("abcdefghij", [qa(text="dex", start=8)]),
     "question q1: the context at answer_start 8 reads 'ij', not the answer 'dex'"),
    (squad("abcdefghij", [qa(text="", start=0)]), "question q1: the answer text is empty"),
    (squad("abcdefghij", [qa(question="一二三四五六七八九十十二三")]),
     "question q1 is 13 characters long: with --seq_length 16 no passage character fits"),
    (squad("abcdefghij", [qa(), qa()]), "question id q1 appears twice"),
    (squad("abcdefghij", [{"id": "q1", "question": "x"}]), "question q1: missing key 'answers'"),
    (squad("abcdefghij", [{"id": "q1", "answers": []}]), "question q1: missing key 'question'"),
    (squad("abcdefghij", [{"question": "x", "answers": []}]),
     "data[0].paragraphs[0].qas[0]: missing key 'id'"),
    (squad("abcdefghij", [qa(start="3")]),
     "question q1, answer 1: 'answer_start' must be an integer, got str"),
    ({"data": [{"paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0]: missing key 'context'"),
    ({"version": "v1.0"}, "missing key 'data'"),
    ('{"data": [', "1: not valid JSON"),
    ({"data": []}, "no questions to train on"),
]


@pytest.mark.parametrize("document, message", BAD_TRAINING_FILES)
def test_bad_training_file_is_one_line_error(base, document, message, capsys):
    bad = write_json(base["dir"] / "bad.json", document)
    with pytest.raises(SystemExit) as exit_info:
        run_cmrc.main(train_argv(base, train=bad))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}") and message in err, err
    assert err.count("\n") == 1
    assert not base["model"].exists()


@pytest.mark.parametrize("option, value", [("doc_stride", 0), ("max_answer_length", 0)])
def test_bad_options(base, option, value, capsys):
    with pytest.raises(SystemExit):
        run_cmrc.main(train_argv(base, **{option: value}))
    assert capsys.readouterr().err == f"error: --{option} must be at least 1, got {value}\n"


def test_dev_file_needs_answer_texts_not_positions(base, zh_vocab_path):
    vocab = Vocab.from_file(zh_vocab_path)
    shifted = write_json(base["dir"] / "dev.json", squad("abcdefghij", [qa(start=-1)]))
    assert read_cmrc(shifted, vocab, 16, answers="eval")[0].answers == ["de"]
    no_answers = write_json(base["dir"] / "none.json", squad("abcdefghij", [
        {"id": 7, "question": "x", "answers": []}]))
    with pytest.raises(UerError, match="question 7: 'answers' is empty"):
        read_cmrc(no_answers, vocab, 16, answers="eval")
    assert read_cmrc(no_answers, vocab, 16, answers="none")[0].qid == "7"


def test_real_files_read_in_their_modes(zh_vocab_path):
    vocab = Vocab.from_file(zh_vocab_path)
    dev_path = shared_path("datasets", "cmrc2018", "dev.json")
    dev = read_cmrc(dev_path, vocab, 512, answers="eval")
    assert len(dev) == 3219 and all(len(ex.answers) == 3 for ex in dev)
    # Three answers[0] offsets of the official dev file are off: training on it says where.
    with pytest.raises(UerError, match="question DEV_101_QUERY_3: the context at answer_start "
                                       "175 reads .* the answer occurs at 174"):
        read_cmrc(dev_path, vocab, 512, answers="train")
    test = read_cmrc(shared_path("datasets", "cmrc2018", "test.json"), vocab, 512, answers="none")
    assert len(test) == 2000 and test[0].qid == "TEST_0_QUERY_0"
    with pytest.raises(UerError, match="question DEV_0_QUERY_0 is 20 characters long"):
        read_cmrc(dev_path, vocab, 19, answers="none")


# --- end to end ----------------------------------------------------------------------------
STARTS, ENDS = "甲乙丙", "丑寅卯"


def easy_squad(questions, seed, fake=False):
    """Answers begin with one of 甲乙丙 and end with one of 丑寅卯 (never elsewhere)."""
    rng = random.Random(seed)
    paragraphs, truth = [], {}
    for p in range(questions // 2):
        before = "".join(rng.choice(FILLER) for _ in range(rng.randrange(3, 30)))
        middle = "".join(rng.choice(FILLER) for _ in range(rng.randrange(0, 4)))
        answer = rng.choice(STARTS) + middle + rng.choice(ENDS)
        after = "".join(rng.choice(FILLER) for _ in range(rng.randrange(3, 20)))
        qas = []
        for q in range(2):
            qid = f"E{seed}_{p}_{q}"
            truth[qid] = answer
            question = "".join(rng.choice(FILLER) for _ in range(rng.randrange(2, 6)))
            answers = [{"text": f"FAKE_ANSWER_{n}", "answer_start": -1} for n in (1, 2, 3)] \
                if fake else [{"text": answer, "answer_start": len(before)}]
            qas.append({"question": question, "id": qid, "answers": answers})
        paragraphs.append({"id": f"P{p}", "context": before + answer + after, "qas": qas})
    return {"version": "v1.0", "data": [{"id": "A", "title": "t", "paragraphs": paragraphs}]}, truth


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    vocab = os.path.join(REPO.parent, "shared", "data", "vocab", "google_zh_vocab.txt")
    if not os.path.exists(vocab):
        pytest.skip("shared vocabulary not available")
    tmp = tmp_path_factory.mktemp("cmrc")
    data = {"dir": tmp, "vocab": vocab, "config": write_config(tmp / "tiny.json"),
            "model": tmp / "cmrc.bin"}
    data["train"] = write_json(tmp / "train.json", easy_squad(200, 1)[0])
    data["dev"] = write_json(tmp / "dev.json", easy_squad(40, 2)[0])
    document, data["truth"] = easy_squad(40, 3, fake=True)
    data["test"] = write_json(tmp / "test.json", document)
    argv = ["--train_path", data["train"], "--dev_path", data["dev"], "--test_path", data["dev"],
            "--vocab_path", vocab, "--config_path", data["config"], "--output_model_path",
            str(data["model"]), "--batch_size", "16", "--seq_length", "32", "--doc_stride", "12",
            "--max_answer_length", "8", "--learning_rate", "3e-3", "--epochs_num", "2",
            "--warmup", "0.05", "--report_steps", "20"]
    out = io.StringIO()
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(out):
        run_cmrc.main(argv)
    data["log"] = out.getvalue()
    data["argv"] = argv
    return data


def test_training_learns_the_easy_task(trained):
    log = trained["log"]
    assert "Batch size:  16\nThe number of training instances: " in log
    assert "Epoch id: 1, Training steps: 20, Avg loss: " in log
    lines = [line for line in log.splitlines() if line.startswith("Avg: ")]
    assert len(lines) == 3 and all(LINE.fullmatch(line) for line in lines), log
    assert "Test set evaluation.\nAvg: " in log
    final = float(lines[-1].split(",")[0].split()[1])
    assert final > 60, log  # an untrained model scores a few points
    state = torch.load(trained["model"], map_location="cpu", weights_only=True)
    assert state["output_layer_1.weight"].shape == (32, 32)
    assert state["output_layer_2.weight"].shape == (2, 32)
    assert "encoder.transformer.1.layer_norm_2.gamma" in state
    assert {key.split(".")[0] for key in state} == {"embedding", "encoder", "output_layer_1",
                                                    "output_layer_2"}


def test_inference_writes_answers_json(trained):
    out_path = trained["dir"] / "pred.json"
    base = ["--load_model_path", str(trained["model"]), "--vocab_path", trained["vocab"],
            "--config_path", trained["config"], "--test_path", trained["test"],
            "--prediction_path", str(out_path), "--seq_length", "32", "--doc_stride", "12",
            "--max_answer_length", "8"]
    run_cmrc_infer.main(base)
    text = out_path.read_text(encoding="utf-8")
    predictions = json.loads(text)
    assert list(predictions) == list(trained["truth"])  # file order, every question
    assert text == json.dumps(predictions, indent=4, ensure_ascii=False) + "\n"
    assert "甲" in text or "乙" in text or "丙" in text  # non-ASCII kept
    correct = sum(predictions[qid] == answer for qid, answer in trained["truth"].items())
    assert correct >= 0.6 * len(predictions), predictions
    run_cmrc_infer.main(base + ["--fp16", "--amp_dtype", "bfloat16", "--batch_size", "7"])
    assert len(json.loads(out_path.read_text(encoding="utf-8"))) == 40
    assert not [name for name in os.listdir(trained["dir"]) if "tmp" in name]


def run_script(script, argv):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / script)] + argv, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_inference_refuses_a_checkpoint_that_does_not_fit(trained):
    never = trained["dir"] / "never.json"
    bigger = write_config(trained["dir"] / "three_layers.json", layers_num=3)
    result = run_script("inference/run_cmrc_infer.py", [
        "--load_model_path", str(trained["model"]), "--vocab_path", trained["vocab"],
        "--config_path", bigger, "--test_path", trained["test"], "--prediction_path",
        str(never), "--seq_length", "32"])
    assert result.returncode == 1  # the model's sidecar names the value
    assert result.stderr.count("\n") == 1
    assert "layers_num is 3 here but 2 in the model" in result.stderr
    legacy = trained["dir"] / "legacy.bin"  # no sidecar: the strict load names the tensors
    shutil.copyfile(trained["model"], legacy)
    result = run_script("inference/run_cmrc_infer.py", [
        "--load_model_path", str(legacy), "--vocab_path", trained["vocab"],
        "--config_path", bigger, "--test_path", trained["test"], "--prediction_path",
        str(never), "--seq_length", "32"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "checkpoint does not match the model" in result.stderr
    assert "missing 16: encoder.transformer.2" in result.stderr
    assert not never.exists()


def test_training_error_through_the_script(trained):
    bad = write_json(trained["dir"] / "bad.json", squad("abcdefghij", [qa(start=20)]))
    result = run_script("run_cmrc.py", ["--train_path", bad, "--dev_path", bad, "--vocab_path",
                                        trained["vocab"], "--config_path", trained["config"],
                                        "--output_model_path", str(trained["dir"] / "no.bin")])
    assert result.returncode == 1
    assert result.stderr == (f"error: {bad}: question q1: answer_start 20 is outside the "
                             "context (10 characters)\n")
    assert not (trained["dir"] / "no.bin").exists()


def test_defaults_and_the_other_partial_mode_trains(trained, capsys):
    args = run_cmrc.parse_args(["--train_path", "t", "--dev_path", "d", "--vocab_path",
                                trained["vocab"], "--config_path", trained["config"]])
    assert (args.batch_size, args.seq_length, args.learning_rate, args.epochs_num,
            args.doc_stride, args.max_answer_length, args.partial_answer,
            args.output_model_path) == (64, 100, 3e-5, 3, 128, 30, "clip",
                                        "./models/cmrc_model.bin")
    infer = run_cmrc_infer.parse_args(["--load_model_path", "m", "--vocab_path",
                                       trained["vocab"], "--test_path", "t",
                                       "--prediction_path", "p"])
    assert (infer.batch_size, infer.seq_length, infer.doc_stride, infer.max_answer_length) == \
        (64, 512, 128, 30)
    argv = list(trained["argv"])
    argv[argv.index("--epochs_num") + 1] = "1"
    argv[argv.index("--output_model_path") + 1] = str(trained["dir"] / "cls.bin")
    argv = argv[:argv.index("--test_path")] + argv[argv.index("--test_path") + 2:]
    run_cmrc.main(argv + ["--partial_answer", "cls"])
    assert LINE.search(capsys.readouterr().out)
    assert (trained["dir"] / "cls.bin").exists()


def test_inference_input_errors_leave_no_output(trained, capsys):
    out_path = trained["dir"] / "never_written.json"
    base = ["--load_model_path", str(trained["model"]), "--vocab_path", trained["vocab"],
            "--config_path", trained["config"], "--prediction_path", str(out_path)]
    broken = write_json(trained["dir"] / "broken.json", '{"data": [')
    long_question = write_json(trained["dir"] / "long.json", squad("abcdefghij", [
        {"id": "L1", "question": "问" * 30}]))
    cases = [([broken, "--seq_length", "32"], f"error: {broken}:1: not valid JSON"),
             ([long_question, "--seq_length", "32"], f"error: {long_question}: question L1 is "
                                                     "30 characters long: with --seq_length 32"),
             ([trained["test"], "--doc_stride", "0"], "error: --doc_stride must be at least 1")]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            run_cmrc_infer.main(base + ["--test_path"] + argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 1 and err.startswith(message) and err.count("\n") == 1
        assert not out_path.exists()
