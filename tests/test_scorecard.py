"""bench/scorecard.py: the overlap check, the task splits, the metric parsers (on outputs the
scripts printed in tiny runs) and, marked slow, one whole scorecard run on a tiny config."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED_DATA, shared_path

sys.path.insert(0, str(REPO / "bench"))
import scorecard  # noqa: E402


# --- overlap check ----------------------------------------------------------------------------
LONG_ROW = "这本书的故事情节非常吸引人，人物刻画细腻，读完之后让人久久不能平静，值得推荐给大家。"


def test_overlap_drops_lines_equal_to_an_evaluation_row_whitespace_ignored():
    documents = [["第一句。", "这 本 书 很 好 看", "第三句。"], ["无关的句子。"]]
    kept, report = scorecard.check_overlap(documents, {"ner": ["这本书很好看"], "cls": ["别的"]})
    assert kept == [["第一句。", "第三句。"], ["无关的句子。"]]
    assert report["lines_dropped_exact"] == 1
    assert report["rows_found"] == 1
    assert report["rows_found_per_task"] == {"ner": 1, "cls": 0}
    assert report["documents_dropped_containing"] == 0


def test_overlap_drops_a_document_that_contains_a_long_row_across_its_lines():
    half = len(LONG_ROW) // 2
    documents = [["开头的话。" + LONG_ROW[:half], LONG_ROW[half:] + "结尾。"], ["无关的句子。"],
                 ["短行", "另一行"]]
    kept, report = scorecard.check_overlap(documents, {"book_review": [LONG_ROW, "短行另一行"]})
    assert kept == [["无关的句子。"]]  # the first holds the long row, the third joins to the short one
    assert report["documents_dropped_containing"] == 2
    kept, report = scorecard.check_overlap(documents[:2], {"book_review": [LONG_ROW]})
    assert kept == [["无关的句子。"]]
    assert report["documents_dropped_containing"] == 1
    assert report["lines_dropped_containing"] == 2
    assert report["rows_found_per_task"] == {"book_review": 1}


def test_overlap_ignores_short_rows_inside_longer_lines_and_counts_shared_rows_per_task():
    documents = [["今天天气很好，我们去公园散步吧。"]]
    kept, report = scorecard.check_overlap(documents, {"a": ["天气很好"], "b": ["天气很好"]})
    assert kept == documents  # below SUBSTRING_MIN_CHARS: only exact lines count
    kept, report = scorecard.check_overlap([["天气很好"]], {"a": ["天气很好"], "b": ["天 气很好"]})
    assert kept == [] and report["rows_found"] == 1
    assert report["rows_found_per_task"] == {"a": 1, "b": 1}


def test_corpora_read_and_written_in_both_formats(tmp_path):
    bert = tmp_path / "bert.txt"
    bert.write_text("句一。\n句二。\n\n\n句三。\n", encoding="utf-8")
    cls = tmp_path / "cls.txt"
    cls.write_text("1\t好书\n0\t差书\n\n", encoding="utf-8")
    task = tmp_path / "train.tsv"
    task.write_text("label\ttext_a\n1\t好店\n", encoding="utf-8")
    assert scorecard.read_corpus(str(task)) == [["好店"]]  # the header is no document
    documents = scorecard.read_corpus(str(bert)) + scorecard.read_corpus(str(cls))
    assert documents == [["句一。", "句二。"], ["句三。"], ["好书"], ["差书"]]
    scorecard.write_corpus(documents, str(tmp_path / "b.txt"), "bert")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "句一。\n句二。\n\n句三。\n\n好书\n\n差书\n\n"
    scorecard.write_corpus(documents, str(tmp_path / "m.txt"), "mlm")
    assert (tmp_path / "m.txt").read_text(encoding="utf-8") == "句一。句二。\n句三。\n好书\n差书\n"


# --- splits -------------------------------------------------------------------------------------
def squad(articles):
    return {"version": "v1", "data": [
        {"id": f"A{i}", "title": "", "paragraphs": [{"id": f"P{i}", "context": "上下文" * 5, "qas": [
            {"id": f"Q{i}_{k}", "question": f"问{i}{k}", "answers": [{"text": "下文", "answer_start": 1}]}
            for k in range(2)]}]} for i in range(articles)]}


def test_cmrc_split_is_deterministic_disjoint_and_complete():
    data = squad(40)
    train, heldout = scorecard.split_cmrc(data)
    again = scorecard.split_cmrc(json.loads(json.dumps(data)))
    assert (train, heldout) == again
    ids = lambda part: [a["id"] for a in part["data"]]
    assert not set(ids(train)) & set(ids(heldout))
    assert sorted(ids(train) + ids(heldout)) == sorted(ids(data))
    assert len(heldout["data"]) == 6  # 15% of 40
    assert ids(train) == sorted(ids(train), key=lambda a: int(a[1:]))  # file order kept
    assert scorecard.split_cmrc(data, seed=1) != (train, heldout)


def test_c3_split_is_deterministic_disjoint_and_complete():
    documents = [[[f"文{i}"], [{"question": "问", "choice": ["甲", "乙"], "answer": "甲"}], f"d{i}"]
                 for i in range(30)]
    parts = scorecard.split_c3(documents, dev_docs=5, heldout_docs=7)
    assert parts == scorecard.split_c3(documents, dev_docs=5, heldout_docs=7)
    ids = [[d[2] for d in part] for part in parts]
    assert [len(x) for x in ids] == [18, 5, 7]
    assert sorted(sum(ids, [])) == sorted(d[2] for d in documents)
    assert len(set(sum(ids, []))) == 30


def test_real_splits_match_bench_results():
    """bench/RESULTS.md: CMRC held-out 467 questions; C3 2,200 / 200 / 274 documents."""
    with open(shared_path("datasets", "cmrc2018", "dev.json"), encoding="utf-8") as handle:
        train, heldout = scorecard.split_cmrc(json.load(handle))
    count = lambda d: sum(len(p["qas"]) for a in d["data"] for p in a["paragraphs"])
    assert count(heldout) == 467 and count(train) + count(heldout) == 3219
    with open(shared_path("datasets", "c3", "dev.json"), encoding="utf-8") as handle:
        parts = scorecard.split_c3(json.load(handle))
    assert [len(p) for p in parts] == [2200, 200, 274]


def test_held_out_pretraining_documents_are_a_seeded_disjoint_share():
    documents = [[f"文{i}"] for i in range(100)]
    train, dev = scorecard.hold_out(documents, 0.05)
    assert (train, dev) == scorecard.hold_out(documents, 0.05)
    assert len(dev) == 5 and sorted(train + dev) == sorted(documents)
    assert scorecard.hold_out(documents, 0) == (documents, [])


def test_answer_starts_moved_to_the_nearest_occurrence_or_dropped():
    data = {"data": [{"paragraphs": [{"context": "甲乙丙甲乙丙", "qas": [
        {"id": "ok", "answers": [{"text": "乙丙", "answer_start": 1}]},
        {"id": "off", "answers": [{"text": "乙丙", "answer_start": 3}]},
        {"id": "gone", "answers": [{"text": "丁", "answer_start": 0}]}]}]}]}
    assert scorecard.fix_answer_starts(data) == (1, 1)
    qas = data["data"][0]["paragraphs"][0]["qas"]
    assert [(q["id"], q["answers"][0]["answer_start"]) for q in qas] == [("ok", 1), ("off", 4)]


def test_first_questions_of_cmrc_and_c3():
    data = squad(5)
    cut = scorecard.first_cmrc_questions(data, 3)
    assert [q["id"] for a in cut["data"] for p in a["paragraphs"] for q in p["qas"]] == \
        ["Q0_0", "Q0_1", "Q1_0"]
    assert scorecard.first_cmrc_questions(data, None) is data
    documents = [[["文"], [{"question": str(k)} for k in range(3)], "d0"],
                 [["文"], [{"question": "x"}], "d1"]]
    assert scorecard.first_c3_questions(documents, 2) == [[["文"], [{"question": "0"}, {"question": "1"}], "d0"]]


# --- metric parsers, on outputs the scripts printed ---------------------------------------------------
CLASSIFIER_OUT = """Loaded 21 tensors from /tmp/sct/out/pretrained.bin; missing 0; unexpected 0
Batch size:  32
The number of training instances: 40
Start training.
Acc. (Correct/Total): 0.4000 (16/40) 
Acc. (Correct/Total): 0.4500 (18/40) 
Test set evaluation.
Confusion matrix:
tensor([[21, 19],
        [ 0,  0]])
Report precision, recall, and f1:
Label 0: 0.525, 1.000, 0.689
Label 1: 0.000, 0.000, 0.000
Acc. (Correct/Total): 0.5250 (21/40) 
"""

NER_OUT = """Batch size:  16
The number of training instances: 200
Start training.
Epoch id: 1, Training steps: 10, Avg loss: 1.736
Report precision, recall, and f1:
0.447, 0.210, 0.286
Epoch id: 2, Training steps: 10, Avg loss: 0.272
Report precision, recall, and f1:
0.841, 0.950, 0.892
Epoch id: 3, Training steps: 10, Avg loss: 0.092
Report precision, recall, and f1:
0.858, 0.970, 0.911
Test set evaluation.
Report precision, recall, and f1:
0.890, 0.974, 0.930
          precision    recall  f1-score   support
LOC          0.8644    1.0000    0.9273        51
ORG          0.7391    0.8500    0.7907        20
PER          1.0000    1.0000    1.0000        45
micro avg    0.8898    0.9741    0.9300       116
"""

CMRC_OUT = """Batch size:  32
The number of training instances: 133
Start training.
Avg: 1.4239,F1:2.8478,EM:0.0000,Total:40,Skip:0
Avg: 1.2320,F1:2.4641,EM:0.0000,Total:40,Skip:0
"""

C3_OUT = """Batch size:  32
The number of training instances: 40
Start training.
Acc. (Correct/Total): 0.2250 (9/40) 
Acc. (Correct/Total): 0.2250 (9/40) 
Test set evaluation.
Confusion matrix:
tensor([[5, 3, 3, 2],
        [1, 5, 2, 0],
        [5, 2, 1, 0],
        [3, 1, 1, 6]])
Report precision, recall, and f1:
Label 0: 0.385, 0.357, 0.370
Label 1: 0.625, 0.455, 0.526
Label 2: 0.125, 0.143, 0.133
Label 3: 0.545, 0.750, 0.632
Acc. (Correct/Total): 0.4250 (17/40) 
"""


def test_parsers_take_the_kept_epoch_on_dev_and_the_test_evaluation():
    assert scorecard.parse_accuracy(CLASSIFIER_OUT) == {"dev accuracy": 45.0, "test accuracy": 52.5}
    assert scorecard.parse_ner(NER_OUT) == {"dev F1": 91.1, "test F1": 93.0}
    # run_cmrc.py keeps epoch 1 (best Avg), so its F1 is the figure, not the last epoch's
    assert scorecard.parse_cmrc(CMRC_OUT) == {"held-out F1": 2.8478, "held-out EM": 0.0}
    assert scorecard.parse_c3(C3_OUT) == {"dev accuracy": 22.5, "held-out accuracy": 42.5}


def test_parsers_without_figures_give_none():
    assert scorecard.parse_accuracy("Start training.\n") == {"dev accuracy": None,
                                                             "test accuracy": None}
    assert scorecard.parse_ner(NER_OUT.split("Test set")[0])["test F1"] is None
    assert scorecard.parse_cmrc("") == {"held-out F1": None, "held-out EM": None}


def test_every_task_figure_is_one_its_parser_returns():
    outputs = {"run_classifier.py": CLASSIFIER_OUT, "run_ner.py": NER_OUT,
               "run_cmrc.py": CMRC_OUT, "run_c3.py": C3_OUT}
    for name, setting in scorecard.TASK_SETTINGS.items():
        parsed = scorecard.PARSERS[setting["script"]](outputs[setting["script"]])
        assert set(setting["figures"]) == set(parsed), name


def test_steps_per_second_skips_the_time_before_the_first_report():
    lines = [(0.0, "Vocabulary size:  21128"),
             (50.0, "|        5/      30 steps|  100.00 tokens/s| loss   10.00| acc: 0.000"),
             (51.0, "  unigram level: ..."),
             (60.0, "|       10/      30 steps|  100.00 tokens/s| loss   10.00| acc: 0.000"),
             (70.0, "|       15/      30 steps|  100.00 tokens/s| loss   10.00| acc: 0.000")]
    assert scorecard.steps_per_second(lines) == pytest.approx(0.5)
    with pytest.raises(RuntimeError):
        scorecard.steps_per_second(lines[:2])


def test_pretrain_summary_keeps_the_last_lines_and_the_notes():
    output = "\n".join(f"|  {i}/ 9 steps| loss 1.0" for i in range(1, 10)) + \
        "\n| dev       9 steps| 700 instances| loss   6.00| acc: 0.050\nSaved the model to m.bin\n"
    last, notes = scorecard.pretrain_summary(output)
    assert last[-1] == "Saved the model to m.bin" and len(last) == 5
    assert notes == ["| dev       9 steps| 700 instances| loss   6.00| acc: 0.050"]


# --- the whole road, tiny ----------------------------------------------------------------------------
@pytest.mark.slow
def test_scorecard_end_to_end_on_a_tiny_config(tmp_path):
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} not available")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32,
                                  "hidden_act": "gelu", "heads_num": 2, "layers_num": 1,
                                  "dropout": 0.1}), encoding="utf-8")
    out = tmp_path / "sc"
    result = subprocess.run(
        [sys.executable, "bench/scorecard.py", "--pretrain_minutes", "0.05", "--output_dir",
         str(out), "--tasks", "book_review", "msra_ner", "--seeds", "2", "--train_rows", "40",
         "--eval_rows", "40", "--config_path", str(config), "--calibration_steps", "6"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "pretrained.bin").exists() and (out / "pretrained.bin.json").exists()
    assert (out / "pretrain.log").exists() and not (out / "work").exists()
    assert (out / "dataset_dev.pt").exists()
    assert "| dev " in (out / "pretrain.log").read_text(encoding="utf-8")  # held-out lines
    card = json.loads((out / "scorecard.json").read_text(encoding="utf-8"))
    assert set(card["results"]) == {"book_review", "msra_ner"}
    for name, record in card["results"].items():
        for fig, sides in record["figures"].items():
            for side in ("random", "pretrained"):
                assert len(sides[side]) == 2 and all(isinstance(v, float) for v in sides[side]), \
                    (name, fig, side)
    pre = card["pretraining"]
    assert pre["total_steps"] >= 1 and pre["minutes"] > 0 and pre["last_lines"]
    assert pre["overlap"]["rows_found_per_task"]["book_review"] > 0  # train.tsv repeats dev rows
    markdown = (out / "scorecard.md").read_text(encoding="utf-8")
    rows = [line for line in markdown.splitlines() if line.startswith("| book_review |")
            or line.startswith("| msra_ner |")]
    assert any("dev accuracy" in row and "Tiny 83.4" in row for row in rows)
    assert any("test F1" in row for row in rows)
    for row in rows[:2]:
        assert any(ch.isdigit() for ch in row.split("|")[3])
    assert "Overlap check" in markdown and "CPU:" in markdown
    assert "| task | metric (%) | random init | pre-trained |" in result.stdout
