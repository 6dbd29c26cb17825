"""A catalogue of bad inputs across every script: bad files, options, data, checkpoints and
file-system conditions (an output that is a directory, is an input, is in a read-only folder
or on a full disk; an unreadable input).

Each case asserts exit code 1, exactly one stderr line, starting with ``error:`` and naming the
file/line/option, no traceback, and nothing new at or beside the output path (the inputs'
folder is unchanged too). Scripts run in-process through ``main(argv)``; only the full-disk
cases run in a subprocess (a tmpfs mounted in a private mount namespace)."""
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import pytest

from _scripts_data import save_tiny, write_tiny_config, write_vocab
from tests.conftest import REPO

ROWS = ["的一是在不了", "有和人这中大", "为上个国我以", "要他时来用们", "生到作地于出",
        "就分对成会可", "主发年动同工", "也能下过的一"]
NOBODY = 65534


@dataclass
class Case:
    id: str
    script: str
    argv: list
    expect: tuple
    mode: str = "plain"  # plain | restricted (another user / read-only) | full (tmpfs)


def C(id, script, argv, *expect, mode="plain"):
    return Case(id, script, argv.split() if isinstance(argv, str) else argv, expect, mode)


# --- the inputs shared by all cases ---------------------------------------------------------
def _write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


def _tsv(path, labels, header="label\ttext_a"):
    rows = [f"{label}\t{ROWS[i % len(ROWS)]}" for i, label in enumerate(labels)]
    return _write(path, header + "\n" + "\n".join(rows) + "\n")


def _load(script):
    path = REPO / script
    name = "bad_inputs_" + script.replace("/", "_").replace(".py", "")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def kit():
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="uer-bad-inputs-"))
    os.chmod(base, 0o755)  # another user (the read-only cases) must reach the inputs
    k = base / "kit"
    k.mkdir()
    paths = {"base": str(base), "kit": str(k)}
    paths["vocab"] = write_vocab(k / "vocab.txt")
    paths["dupvocab"] = _write(k / "dup_vocab.txt",
                               open(paths["vocab"], encoding="utf-8").read() + "[CLS]\n")
    paths["config"] = write_tiny_config(k / "config.json")
    docs = "\n\n".join("\n".join(ROWS[i:i + 3]) for i in range(0, 6))
    paths["corpus"] = _write(k / "corpus.txt", docs + "\n")
    paths["empty"] = _write(k / "empty.txt", "")
    paths["badcls"] = _write(k / "bad_cls.txt", "0\t的一是\nx\t在不了\n")
    with open(k / "bad_utf8.txt", "wb") as handle:
        handle.write("的一是\n".encode() + b"\xff\xfe broken\n")
    paths["badutf"] = str(k / "bad_utf8.txt")
    paths["link"] = str(k / "link_to_corpus.txt")
    os.symlink(paths["corpus"], paths["link"])
    paths["hardlink"] = str(k / "hard_corpus.txt")
    os.link(paths["corpus"], paths["hardlink"])
    paths["notdir"] = _write(k / "a_file", "not a folder\n")
    (k / "a_folder").mkdir()
    paths["dir"] = str(k / "a_folder")
    paths["garbage"] = _write(k / "garbage.bin", "this is not a checkpoint\n")
    paths["model"], _ = save_tiny(k / "model.bin", paths["vocab"])
    paths["model2"], _ = save_tiny(k / "model2.bin", paths["vocab"], seed=1)
    paths["train"] = _tsv(k / "train.tsv", [0, 1] * 8)
    paths["dev"] = _tsv(k / "dev.tsv", [0, 1] * 2)
    paths["test"] = _write(k / "test.tsv", "text_a\n" + "\n".join(ROWS[:4]) + "\n")
    paths["stray"] = _tsv(k / "stray.tsv", [0, 1, 0, 1, 1000, 0, 1])
    paths["huge"] = _tsv(k / "huge.tsv", [0, 1, 10 ** 20, 1])
    paths["e20"] = _tsv(k / "e20.tsv", [0, 1, "1e20", 1])
    paths["neg"] = _tsv(k / "neg.tsv", [0, 1, -1])
    paths["gapdev"] = _tsv(k / "gap_dev.tsv", [0, 1, 5])
    paths["three"] = _tsv(k / "three.tsv", [0, 1, 2, 1])
    paths["nolabel"] = _tsv(k / "no_label.tsv", [0, 1], header="class\ttext_a")
    paths["badfields"] = _write(k / "bad_fields.tsv", "label\ttext_a\n0\t的一\n1\t是\t在\n")
    paths["unreadable"] = str(shutil.copy(paths["train"], k / "unreadable.tsv"))
    paths["label2id"] = _write(k / "label2id.json", '{"O": 0, "B-LOC": 1, "I-LOC": 2}')
    mt = k / "mt_task"
    mt.mkdir()
    _tsv(mt / "train.tsv", [0, 1, 7, 0])
    _tsv(mt / "dev.tsv", [0, 1])
    paths["mt"] = str(mt)
    paths["logits"] = _write(k / "logits.tsv", "label\tlogits\n0\t0.1 0.2\n")
    paths["mnt"] = str(base / "mnt")
    os.mkdir(paths["mnt"])
    # A real dataset and a real fine-tuned classifier, made by the scripts themselves.
    paths["dataset"] = str(k / "dataset.pt")
    _load("preprocess.py").main(["--corpus_path", paths["corpus"], "--vocab_path",
                                 paths["vocab"], "--dataset_path", paths["dataset"],
                                 "--seq_length", "16", "--dup_factor", "1"])
    paths["classifier"] = str(k / "classifier.bin")
    _load("run_classifier.py").main(
        ["--train_path", paths["train"], "--dev_path", paths["dev"], "--vocab_path",
         paths["vocab"], "--config_path", paths["config"], "--output_model_path",
         paths["classifier"], "--epochs_num", "1", "--batch_size", "8", "--seq_length", "16"])
    for name in os.listdir(k):
        full = k / name
        if full.is_file() and not full.is_symlink():
            os.chmod(full, 0o644)
        elif full.is_dir():
            os.chmod(full, 0o755)
            for inner in full.iterdir():
                os.chmod(inner, 0o644)
    os.chmod(paths["unreadable"], 0o000)
    for script in {case.script for case in CASES}:
        _load(script)
    yield paths
    shutil.rmtree(base, ignore_errors=True)


# --- the catalogue -----------------------------------------------------------------------
PRE = "preprocess.py"
PRE_ARGS = "--corpus_path {corpus} --vocab_path {vocab} --dataset_path {out}/d.pt --seq_length 16"
VOC = "scripts/build_vocab.py"
VOC_ARGS = "--corpus_path {corpus} --vocab_path {out}/v.txt --tokenizer char"
PT = "pretrain.py"
PT_ARGS = ("--dataset_path {dataset} --vocab_path {vocab} --config_path {config} "
           "--output_model_path {out}/m.bin --total_steps 2 --batch_size 2")
CL = "run_classifier.py"
CL_ARGS = ("--train_path {train} --dev_path {dev} --vocab_path {vocab} --config_path {config} "
           "--output_model_path {out}/c.bin --epochs_num 1 --batch_size 4 --seq_length 16")
INF = "inference/run_classifier_infer.py"
INF_ARGS = ("--load_model_path {classifier} --vocab_path {vocab} --config_path {config} "
            "--test_path {test} --prediction_path {out}/p.tsv --labels_num 2 --seq_length 16")
FT_ARGS = "--train_path {train} --dev_path {dev} --vocab_path {vocab} --config_path {config}"
INFER_ARGS = "--load_model_path {classifier} --vocab_path {vocab} --config_path {config}"


def swap(base, old, new):
    """``base`` with option ``old``'s value replaced (or the option removed when new is None)."""
    parts = base.split()
    at = parts.index(old)
    if new is None:
        del parts[at:at + 2]
    else:
        parts[at + 1] = new
    return " ".join(parts)


CASES = [
    # preprocess.py
    C("pre-missing-corpus", PRE, swap(PRE_ARGS, "--corpus_path", "{out}/nope.txt"), "nope.txt"),
    C("pre-corpus-is-dir", PRE, swap(PRE_ARGS, "--corpus_path", "{dir}"), "a_folder"),
    C("pre-empty-corpus", PRE, swap(PRE_ARGS, "--corpus_path", "{empty}"), "empty.txt", "empty"),
    C("pre-bad-utf8", PRE, swap(PRE_ARGS, "--corpus_path", "{badutf}"), "bad_utf8.txt:2",
      "UTF-8"),
    C("pre-cls-bad-label", PRE, swap(PRE_ARGS, "--corpus_path", "{badcls}") + " --target cls",
      "bad_cls.txt:2", "label"),
    C("pre-output-is-dir", PRE, swap(PRE_ARGS, "--dataset_path", "{out}/isdir"), "isdir",
      "is a directory", "--dataset_path"),
    C("pre-output-is-corpus", PRE, swap(PRE_ARGS, "--dataset_path", "{corpus}"), "corpus.txt",
      "--corpus_path"),
    C("pre-output-is-vocab", PRE, swap(PRE_ARGS, "--dataset_path", "{vocab}"), "--vocab_path"),
    C("pre-output-symlink-to-corpus", PRE, swap(PRE_ARGS, "--dataset_path", "{link}"),
      "--corpus_path"),
    C("pre-output-hardlink-of-corpus", PRE, swap(PRE_ARGS, "--dataset_path", "{hardlink}"),
      "hard_corpus.txt", "--corpus_path"),
    C("pre-output-under-a-file", PRE, swap(PRE_ARGS, "--dataset_path", "{notdir}/d.pt"),
      "a_file", "not a directory"),
    C("pre-output-folder-missing", PRE, swap(PRE_ARGS, "--dataset_path", "{out}/no/d.pt"),
      "does not exist", "--dataset_path"),
    C("pre-output-read-only", PRE, swap(PRE_ARGS, "--dataset_path", "{ro}/d.pt"),
      "permission denied", "--dataset_path", mode="restricted"),
    C("pre-corpus-unreadable", PRE, swap(PRE_ARGS, "--corpus_path", "{unreadable}"),
      "unreadable.tsv", "permission denied", "--corpus_path", mode="restricted"),
    C("pre-unknown-target", PRE, PRE_ARGS + " --target foo", "--target", "foo"),
    C("pre-bad-int", PRE, swap(PRE_ARGS, "--seq_length", "ten"), "--seq_length", "ten"),
    C("pre-seq-length-range", PRE, swap(PRE_ARGS, "--seq_length", "2"), "--seq_length"),
    C("pre-missing-corpus-option", PRE, swap(PRE_ARGS, "--corpus_path", None), "--corpus_path"),
    C("pre-unknown-option", PRE, PRE_ARGS + " --bogus 1", "--bogus"),
    C("pre-duplicate-vocab-token", PRE, swap(PRE_ARGS, "--vocab_path", "{dupvocab}"),
      "dup_vocab.txt:", "[CLS]", "also on line"),
    C("pre-missing-vocab", PRE, swap(PRE_ARGS, "--vocab_path", "{out}/v.txt"), "v.txt"),
    C("pre-disk-full", PRE, "--corpus_path corpora/sample_bert.txt --vocab_path "
      "models/sample_vocab.txt --dataset_path {mnt}/d.pt --seq_length 64", "d.pt",
      "no space left on device", mode="full"),
    # scripts/build_vocab.py
    C("voc-output-is-corpus", VOC, swap(VOC_ARGS, "--vocab_path", "{corpus}"), "--corpus_path"),
    C("voc-output-is-dir", VOC, swap(VOC_ARGS, "--vocab_path", "{out}/isdir"), "is a directory"),
    C("voc-unknown-tokenizer", VOC, swap(VOC_ARGS, "--tokenizer", "word"), "--tokenizer"),
    C("voc-missing-corpus", VOC, swap(VOC_ARGS, "--corpus_path", "{out}/none.txt"), "none.txt"),
    C("voc-read-only", VOC, swap(VOC_ARGS, "--vocab_path", "{ro}/v.txt"), "permission denied",
      "--vocab_path", mode="restricted"),
    C("voc-bad-int", VOC, VOC_ARGS + " --workers_num two", "--workers_num"),
    C("voc-missing-output-option", VOC, swap(VOC_ARGS, "--vocab_path", None), "--vocab_path"),
    C("voc-corpus-unreadable", VOC, swap(VOC_ARGS, "--corpus_path", "{unreadable}"),
      "permission denied", mode="restricted"),
    # pretrain.py
    C("pt-output-is-dir", PT, swap(PT_ARGS, "--output_model_path", "{out}/isdir"),
      "is a directory", "--output_model_path"),
    C("pt-output-is-dataset", PT, swap(PT_ARGS, "--output_model_path", "{dataset}"),
      "--dataset_path"),
    C("pt-output-is-config", PT, swap(PT_ARGS, "--output_model_path", "{config}"),
      "--config_path"),
    C("pt-output-is-vocab", PT, swap(PT_ARGS, "--output_model_path", "{vocab}"),
      "--vocab_path"),
    C("pt-output-is-pretrained", PT, swap(PT_ARGS, "--output_model_path", "{model}")
      + " --pretrained_model_path {model}", "--pretrained_model_path"),
    C("pt-output-under-a-file", PT, swap(PT_ARGS, "--output_model_path", "{notdir}/m.bin"),
      "not a directory"),
    C("pt-read-only", PT, swap(PT_ARGS, "--output_model_path", "{ro}/m.bin"),
      "permission denied", mode="restricted"),
    C("pt-dataset-unreadable", PT, swap(PT_ARGS, "--dataset_path", "{unreadable}"),
      "permission denied", "--dataset_path", mode="restricted"),
    C("pt-missing-dataset", PT, swap(PT_ARGS, "--dataset_path", "{out}/none.pt"), "none.pt"),
    C("pt-dataset-is-text", PT, swap(PT_ARGS, "--dataset_path", "{corpus}"), "corpus.txt"),
    C("pt-dataset-other-target", PT, PT_ARGS + " --target mlm", "dataset.pt", "mlm"),
    C("pt-unknown-target", PT, PT_ARGS + " --target foo", "--target"),
    C("pt-bad-int", PT, swap(PT_ARGS, "--total_steps", "ten"), "--total_steps"),
    C("pt-bad-float", PT, PT_ARGS + " --learning_rate fast", "--learning_rate"),
    C("pt-missing-output-option", PT, swap(PT_ARGS, "--output_model_path", None),
      "--output_model_path"),
    C("pt-duplicate-vocab-token", PT, swap(PT_ARGS, "--vocab_path", "{dupvocab}"),
      "dup_vocab.txt:"),
    C("pt-missing-config", PT, swap(PT_ARGS, "--config_path", "{out}/c.json"), "c.json"),
    C("pt-pretrained-garbage", PT, PT_ARGS + " --pretrained_model_path {garbage}",
      "garbage.bin"),
    C("pt-pretrained-missing", PT, PT_ARGS + " --pretrained_model_path {out}/none.bin",
      "none.bin"),
    C("pt-world-size-without-ranks", PT, PT_ARGS + " --world_size 2", "--gpu_ranks"),
    C("pt-rank-beyond-world", PT, PT_ARGS + " --world_size 2 --gpu_ranks 0 5", "--gpu_ranks"),
    C("pt-gpu-on-cpu", PT, PT_ARGS + " --gpu_ranks 0", "--gpu_ranks"),
    C("pt-bad-master-ip", PT, PT_ARGS + " --world_size 2 --gpu_ranks 0 --master_ip x:1",
      "--master_ip"),
    C("pt-resume-without-state", PT, PT_ARGS + " --resume", "--resume"),
    C("pt-disk-full", PT, "--dataset_path {dataset} --vocab_path {vocab} --config_path {config}"
      " --output_model_path {mnt}/m.bin --total_steps 2 --batch_size 2",
      "m.bin", "no space left on device", "instead", mode="full"),
    # run_classifier.py
    C("cl-output-is-dir", CL, swap(CL_ARGS, "--output_model_path", "{out}/isdir"),
      "is a directory", "--output_model_path"),
    C("cl-output-is-train", CL, swap(CL_ARGS, "--output_model_path", "{train}"), "--train_path"),
    C("cl-output-is-dev", CL, swap(CL_ARGS, "--output_model_path", "{dev}"), "--dev_path"),
    C("cl-output-is-pretrained", CL, swap(CL_ARGS, "--output_model_path", "{model}")
      + " --pretrained_model_path {model}", "--pretrained_model_path"),
    C("cl-output-under-a-file", CL, swap(CL_ARGS, "--output_model_path", "{notdir}/c.bin"),
      "not a directory"),
    C("cl-read-only", CL, swap(CL_ARGS, "--output_model_path", "{ro}/c.bin"),
      "permission denied", mode="restricted"),
    C("cl-train-unreadable", CL, swap(CL_ARGS, "--train_path", "{unreadable}"),
      "unreadable.tsv", "permission denied", "--train_path", mode="restricted"),
    C("cl-stray-label", CL, swap(CL_ARGS, "--train_path", "{stray}"), "stray.tsv:6",
      "label 1000", "--labels_num"),
    C("cl-huge-label", CL, swap(CL_ARGS, "--train_path", "{huge}"), "huge.tsv:4",
      str(10 ** 20)),
    C("cl-float-label", CL, swap(CL_ARGS, "--train_path", "{e20}"), "e20.tsv:4", "1e20"),
    C("cl-negative-label", CL, swap(CL_ARGS, "--train_path", "{neg}"), "neg.tsv:4", "negative"),
    C("cl-dev-label-beyond", CL, swap(CL_ARGS, "--dev_path", "{gapdev}"), "gap_dev.tsv:4"),
    C("cl-label-beyond-labels-num", CL, swap(CL_ARGS, "--train_path", "{three}")
      + " --labels_num 2", "three.tsv:4", "--labels_num"),
    C("cl-labels-num-too-small", CL, CL_ARGS + " --labels_num 1", "--labels_num"),
    C("cl-no-label-column", CL, swap(CL_ARGS, "--train_path", "{nolabel}"), "no_label.tsv",
      "label"),
    C("cl-wrong-field-count", CL, swap(CL_ARGS, "--train_path", "{badfields}"),
      "bad_fields.tsv:3"),
    C("cl-train-is-dir", CL, swap(CL_ARGS, "--train_path", "{dir}"), "a_folder"),
    C("cl-missing-train", CL, swap(CL_ARGS, "--train_path", "{out}/none.tsv"), "none.tsv"),
    C("cl-missing-dev-option", CL, swap(CL_ARGS, "--dev_path", None), "--dev_path"),
    C("cl-unknown-pooling", CL, CL_ARGS + " --pooling median", "--pooling"),
    C("cl-unknown-encoder", CL, CL_ARGS + " --encoder transformer", "--encoder"),
    C("cl-bad-int", CL, swap(CL_ARGS, "--batch_size", "4.5"), "--batch_size"),
    C("cl-duplicate-vocab-token", CL, swap(CL_ARGS, "--vocab_path", "{dupvocab}"),
      "dup_vocab.txt:"),
    C("cl-lstm-from-bert-checkpoint", CL, CL_ARGS + " --encoder lstm --pretrained_model_path "
      "{model}", "model.bin", "encoder receives no pre-trained weight", "--encoder"),
    C("cl-pretrained-garbage", CL, CL_ARGS + " --pretrained_model_path {garbage}",
      "garbage.bin"),
    C("cl-pretrained-is-dir", CL, CL_ARGS + " --pretrained_model_path {dir}", "a_folder"),
    C("cl-disk-full", CL, swap(CL_ARGS, "--output_model_path", "{mnt}/c.bin"), "c.bin",
      "no space left on device", "instead", mode="full"),
    # inference/run_classifier_infer.py
    C("inf-prediction-is-dir", INF, swap(INF_ARGS, "--prediction_path", "{out}/isdir"),
      "is a directory", "--prediction_path"),
    C("inf-prediction-is-test", INF, swap(INF_ARGS, "--prediction_path", "{test}"),
      "--test_path"),
    C("inf-prediction-is-model", INF, swap(INF_ARGS, "--prediction_path", "{classifier}"),
      "--load_model_path"),
    C("inf-read-only", INF, swap(INF_ARGS, "--prediction_path", "{ro}/p.tsv"),
      "permission denied", mode="restricted"),
    C("inf-test-unreadable", INF, swap(INF_ARGS, "--test_path", "{unreadable}"),
      "permission denied", "--test_path", mode="restricted"),
    C("inf-missing-model", INF, swap(INF_ARGS, "--load_model_path", "{out}/none.bin"),
      "none.bin"),
    C("inf-model-garbage", INF, swap(INF_ARGS, "--load_model_path", "{garbage}"),
      "garbage.bin"),
    C("inf-labels-num-mismatch", INF, swap(INF_ARGS, "--labels_num", "3"), "classifier.bin"),
    C("inf-bad-int", INF, swap(INF_ARGS, "--labels_num", "two"), "--labels_num"),
    C("inf-missing-test", INF, swap(INF_ARGS, "--test_path", "{out}/none.tsv"), "none.tsv"),
    # the other fine-tuning and inference scripts
    C("ner-output-is-dir", "run_ner.py", FT_ARGS + " --label2id_path {label2id} "
      "--output_model_path {out}/isdir", "is a directory", "--output_model_path"),
    C("ner-output-is-label2id", "run_ner.py", FT_ARGS + " --label2id_path {label2id} "
      "--output_model_path {label2id}", "--label2id_path"),
    C("ner-missing-label2id-option", "run_ner.py", FT_ARGS, "--label2id_path"),
    C("dbqa-output-is-dir", "run_dbqa.py", FT_ARGS + " --output_model_path {out}/isdir",
      "is a directory"),
    C("mt-stray-label", "run_mt_classifier.py", "--dataset_path_list {mt} --vocab_path {vocab} "
      "--config_path {config} --output_model_path {out}/m.bin", "train.tsv:4", "label 7"),
    C("mt-output-is-input", "run_mt_classifier.py", "--dataset_path_list {mt} --vocab_path "
      "{vocab} --config_path {config} --output_model_path {mt}", "--dataset_path_list"),
    C("c3-output-is-dir", "run_c3.py", FT_ARGS + " --output_model_path {out}/isdir",
      "is a directory"),
    C("cmrc-output-is-dir", "run_cmrc.py", FT_ARGS + " --output_model_path {out}/isdir",
      "is a directory"),
    C("cmrc-output-is-train", "run_cmrc.py", FT_ARGS + " --output_model_path {train}",
      "--train_path"),
    C("ner-infer-prediction-is-dir", "inference/run_ner_infer.py", INFER_ARGS
      + " --label2id_path {label2id} --test_path {test} --prediction_path {out}/isdir",
      "is a directory", "--prediction_path"),
    C("c3-infer-prediction-is-test", "inference/run_c3_infer.py", INFER_ARGS
      + " --test_path {dev} --prediction_path {dev}", "--test_path"),
    C("cmrc-infer-prediction-is-dir", "inference/run_cmrc_infer.py", INFER_ARGS
      + " --test_path {dev} --prediction_path {out}/isdir", "is a directory"),
    C("cmrc-infer-unknown-option", "inference/run_cmrc_infer.py", INFER_ARGS
      + " --test_path {dev} --prediction_path {out}/p.json --beam 3", "--beam"),
    # scripts/ utilities
    C("join-output-is-input", "scripts/join_logits.py", "--input_path {train} --logits_path "
      "{logits} --output_path {train}", "--input_path"),
    C("join-output-is-dir", "scripts/join_logits.py", "--input_path {train} --logits_path "
      "{logits} --output_path {out}/isdir", "is a directory"),
    C("join-missing-logits", "scripts/join_logits.py", "--input_path {train} --logits_path "
      "{out}/none.tsv --output_path {out}/j.tsv", "none.tsv"),
    C("join-disk-full", "scripts/join_logits.py", "--input_path {train} --logits_path "
      "{trainlogits} --output_path {mnt}/j.tsv", "j.tsv", "no space left on device",
      mode="full"),
    C("avg-output-is-input", "scripts/average_model.py", "--model_list_path {model} {model2} "
      "--output_model_path {model2}", "--model_list_path"),
    C("avg-garbage-input", "scripts/average_model.py", "--model_list_path {model} {garbage} "
      "--output_model_path {out}/a.bin", "garbage.bin"),
    C("avg-read-only", "scripts/average_model.py", "--model_list_path {model} {model2} "
      "--output_model_path {ro}/a.bin", "permission denied", mode="restricted"),
    C("msc-output-is-dir", "scripts/multi_single_convert.py", "--input_model_path {model} "
      "--output_model_path {out}/isdir --add_module_prefix", "is a directory"),
    C("msc-both-modes", "scripts/multi_single_convert.py", "--input_model_path {model} "
      "--output_model_path {out}/m.bin --add_module_prefix --delete_module_prefix",
      "--delete_module_prefix"),
    C("emb-output-is-vocab", "scripts/extract_embedding.py", "--vocab_path {vocab} "
      "--pretrained_model_path {model} --output_word_embedding_path {vocab}", "--vocab_path"),
    C("feat-output-is-dir", "scripts/extract_feature.py", "--input_path {test} "
      "--pretrained_model_path {model} --vocab_path {vocab} --config_path {config} "
      "--output_path {out}/isdir", "is a directory"),
    C("gen-output-is-input", "scripts/generate.py", "--input_path {test} --pretrained_model_path "
      "{model} --vocab_path {vocab} --config_path {config} --output_path {test}",
      "--input_path"),
    C("cloze-output-is-dir", "scripts/cloze_test.py", "--input_path {test} "
      "--pretrained_model_path {model} --vocab_path {vocab} --config_path {config} "
      "--output_path {out}/isdir", "is a directory"),
    C("dva-output-is-old-model", "scripts/dynamic_vocab_adapter.py", "--old_model_path {model} "
      "--old_vocab_path {vocab} --new_vocab_path {vocab} --new_model_path {model}",
      "--old_model_path"),
    C("dva-duplicate-new-vocab", "scripts/dynamic_vocab_adapter.py", "--old_model_path {model} "
      "--old_vocab_path {vocab} --new_vocab_path {dupvocab} --new_model_path {out}/n.bin",
      "dup_vocab.txt:"),
    C("hf2uer-output-is-dir", "scripts/convert_bert_from_huggingface_to_uer.py",
      "--input_model_path {model} --output_model_path {out}/isdir", "is a directory"),
    C("uer2hf-output-is-file", "scripts/convert_bert_from_uer_to_huggingface.py",
      "--input_model_path {model} --output_model_path {notdir} --vocab_path {vocab}",
      "a_file", "not a directory"),
    C("check-model-garbage", "scripts/check_model.py", "--input_model_path {garbage} "
      "--vocab_path {vocab} --config_path {config}", "garbage.bin"),
    C("diff-vocab-unknown-option", "scripts/diff_vocab.py", "--vocab_1 {vocab} --vocab_2 "
      "{vocab} --vocab_3 {vocab}", "--vocab_3"),
    C("topn-missing-option", "scripts/topn_words_indep.py", "--vocab_path {vocab}",
      "--target_words_path"),
]


# --- running a case ------------------------------------------------------------------------
def _snapshot(folder):
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            full = os.path.join(root, name)
            stat = os.lstat(full)
            found[os.path.relpath(full, folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


@contextlib.contextmanager
def _restricted(ro):
    """Make ``ro`` unwritable for the script: chmod, and as root another effective user."""
    os.chmod(ro, 0o555)
    root = os.geteuid() == 0
    try:
        if root:
            os.seteuid(NOBODY)
        yield
    finally:
        if root:
            os.seteuid(0)
        os.chmod(ro, 0o755)


def _can_unshare():
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


def _run_full_disk(case, argv, kit):
    """The script on a 16 kB tmpfs at {mnt}, in a private mount namespace."""
    if not _can_unshare():
        pytest.skip("cannot mount a small tmpfs here (unshare -rm is not permitted)")
    rescue = os.path.join(kit["base"], "rescue")
    os.makedirs(rescue, exist_ok=True)
    command = " ".join([f"mount -t tmpfs -o size=16k tmpfs {kit['mnt']} &&",
                        sys.executable, str(REPO / case.script),
                        *("'" + a + "'" for a in argv), "; code=$?; echo @@; ls -a", kit["mnt"],
                        "; exit $code"])
    env = dict(os.environ, TMPDIR=rescue, PYTHONPATH=str(REPO))
    result = subprocess.run(["unshare", "-rm", "sh", "-c", command], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    listing = [name for name in result.stdout.split("@@")[-1].split()
               if name not in (".", "..")]
    # What was on the full disk when the script ended: the partial file must be gone.
    leftovers = [name for name in listing if name.startswith(".")
                 or name in ("d.pt", "j.tsv", "m.bin", "c.bin")]
    if "instead" in case.expect:  # the trained weights were written elsewhere, and loadable
        import torch

        # One rescued file; a model (not a training state) with its sidecar JSON (uer/sidecar.py).
        names = os.listdir(rescue)
        rescued = [os.path.join(rescue, name) for name in names if not name.endswith(".json")]
        assert len(rescued) == 1 and ".rescued-" in rescued[0]
        sidecars = [name for name in names if name.endswith(".json")]
        assert sidecars == ([] if ".state." in rescued[0] else [os.path.basename(rescued[0]) + ".json"])
        assert isinstance(torch.load(rescued[0], weights_only=True), dict)
    shutil.rmtree(rescue, ignore_errors=True)
    return result.returncode, result.stderr, leftovers


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case, kit, tmp_path, capsys):
    base = tempfile.mkdtemp(dir=kit["base"], prefix="case-")
    os.chmod(base, 0o755)
    out = os.path.join(base, "out")
    ro = os.path.join(base, "ro")
    os.makedirs(os.path.join(out, "isdir"))
    os.makedirs(ro)
    os.chmod(out, 0o755)
    values = dict(kit, out=out, ro=ro)
    if case.id == "join-disk-full":  # a joined file larger than the 16 kB disk
        values["train"] = _tsv(os.path.join(base, "big_train.tsv"), [0, 1] * 1000)
        values["trainlogits"] = _write(os.path.join(base, "big_logits.tsv"), "label\tlogits\n"
                                       + "".join("0\t0.1 0.2\n" for _ in range(2000)))
    argv = [part.format(**values) for part in case.argv]
    before = {"kit": _snapshot(kit["kit"]), "out": _snapshot(out), "ro": _snapshot(ro)}
    if case.mode == "full":
        code, err, leftovers = _run_full_disk(case, argv, kit)
        assert leftovers == [], leftovers
    else:
        module = _load(case.script)
        guard = _restricted(ro) if case.mode == "restricted" else contextlib.nullcontext()
        with guard, pytest.raises(SystemExit) as info:
            module.main(argv)
        code = info.value.code
        captured = capsys.readouterr()
        err = captured.err
        assert "Traceback" not in captured.out
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith(("preprocess:", "Epoch"))]
    assert code == 1, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in case.expect:
        assert word.format(**values) in lines[0], (word, lines[0])
    assert _snapshot(kit["kit"]) == before["kit"], "an input changed"
    assert _snapshot(out) == before["out"], "something new beside the output"
    assert _snapshot(ro) == before["ro"]
    shutil.rmtree(base, ignore_errors=True)


def test_catalogue_size():
    assert len(CASES) >= 80
    scripts = {case.script for case in CASES}
    assert {PRE, VOC, PT, CL, INF, "scripts/join_logits.py"} <= scripts
