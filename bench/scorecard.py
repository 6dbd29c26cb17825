"""Scorecard: pre-train from scratch for a wall-time budget, then fine-tune every task from that
model and from random initialisation (same command, config, vocabulary and seed), and write
DIR/scorecard.md and DIR/scorecard.json.

    python3 bench/scorecard.py --pretrain_minutes 60 --output_dir scorecard-out
    python3 bench/scorecard.py --tasks book_review --seeds 1 --pretrain_minutes 8 --output_dir /tmp/sc
    make scorecard MINUTES=60 DIR=scorecard-out

Road: (1) build DIR/corpus.txt from RECIPE_CORPORA, minus every line (and document) that holds a
dev/test row of a scored task (the overlap check), and a held-out share DIR/corpus_dev.txt;
(2) preprocess.py -> DIR/dataset.pt and DIR/dataset_dev.pt (pretrain.py's --dev_dataset_path);
(3) a short pretrain.py calibration run measures steps/s, so that --total_steps fills the budget
(the LR schedule needs the total up front); (4) pretrain.py -> DIR/pretrained.bin (+ sidecar);
(5) per task and seed, the task script twice: with --pretrained_model_path and without.
Task splits (CMRC and C3 come from their dev.json) are written to DIR/data/ once per run.

The recipe below is the one place to tune pre-training; TASK_SETTINGS the one place to tune
fine-tuning. For quick checks: --train_rows/--eval_rows shrink every task, --config_path swaps
the model config, --pretrain_minutes may be fractional; --pretrained_model_path scores an
existing model instead of pre-training one.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")

# --- THE RECIPE (pre-training); tune here -------------------------------------------------
# 2 layers x 128, pre-LayerNorm: post-LN (UER-py's layout) stays on the unigram plateau in this
# budget, and the smallest model leaves it soonest (bench/RESULTS.md, session 7 levers). The
# config carries the layout, so the random-init side has the same architecture.
RECIPE_CONFIG = "models/bert_2x128_preln_config.json"
# Files under ../shared/data: BERT format (sentence per line, blank line between documents) or
# "label<TAB>text" lines (each text becomes one document; a "label" header line is skipped).
# General text plus the tasks' own training text (in-domain; the overlap check below removes
# anything that is also a dev or test row).
RECIPE_CORPORA = ["corpora/CLUECorpusSmall_bert_sampled.txt", "corpora/book_review_cls.txt",
                  "datasets/chnsenticorp/train.tsv"]
# preprocess.py flags. --dynamic_masking makes preprocess.py ignore --dup_factor (fresh masks
# every epoch instead); --full_sentences packs documents into full seq_length rows (no padding).
# Whole word masking (jieba): left the plateau sooner and fine-tuned higher than character
# masking in the same budget (bench/RESULTS.md, session 7). pretrain.py needs the flag too.
RECIPE_PREPROCESS = ["--target", "mlm", "--seq_length", "128", "--dynamic_masking",
                     "--full_sentences", "--whole_word_masking"]
# Batch 16: leaving the plateau takes optimizer updates, and a 16 x 128 batch still runs at
# full speed on a CPU. --fp16 is bf16 where the CPU has it natively (fp32 elsewhere).
RECIPE_PRETRAIN = ["--target", "mlm", "--learning_rate", "1e-3", "--warmup", "0.05",
                   "--batch_size", "16", "--tie_weights", "--fp16", "--whole_word_masking"]
# A held-out share of the corpus documents becomes pretrain.py's --dev_dataset_path (held-out
# masked-LM accuracy in the report lines), evaluated RECIPE_DEV_EVALS times; 0 turns it off.
RECIPE_DEV_FRACTION = 0.02
RECIPE_DEV_EVALS = 5
PREPROCESS_PROCESSES = 2  # fixed, so the dataset is the same on every machine
CALIBRATION_STEPS = 30  # a short pretrain.py run measures steps/s (after its first report line)

# --- fine-tuning settings per task; tune here ----------------------------------------------
# Every flag is passed to both sides (random init and pre-trained). "figures": what is parsed
# from the script's output, the first one is the task's headline; "dev" figures are taken at
# the epoch the script keeps (its selection score, first maximum), "test" from the best model's
# test evaluation.
TASK_SETTINGS = {
    "book_review": {
        "script": "run_classifier.py",
        # lr 5e-4: the 2 x 128 recipe model at 1e-4 under-fits in one epoch, from either init
        # (bench/RESULTS.md, session 7: random 80.7 -> 81.2, pre-trained 78.5 -> 81.4)
        "flags": ["--epochs_num", "1", "--batch_size", "32", "--seq_length", "128",
                  "--learning_rate", "5e-4", "--pooling", "mean", "--report_steps", "100"],
        "figures": ["dev accuracy", "test accuracy"],
    },
    "chnsenticorp": {
        "script": "run_classifier.py",
        "flags": ["--epochs_num", "2", "--batch_size", "32", "--seq_length", "128",
                  "--learning_rate", "5e-4", "--pooling", "mean", "--report_steps", "100"],
        "figures": ["dev accuracy", "test accuracy"],
    },
    "msra_ner": {
        "script": "run_ner.py",
        "flags": ["--epochs_num", "5", "--batch_size", "32", "--seq_length", "128",
                  "--learning_rate", "1e-3", "--report_steps", "100"],
        "figures": ["test F1", "dev F1"],
    },
    "cmrc2018": {  # dev.json split by article; the held-out part is also the --dev_path
        "script": "run_cmrc.py",
        "flags": ["--epochs_num", "2", "--batch_size", "32", "--seq_length", "256",
                  "--doc_stride", "128", "--learning_rate", "1e-3", "--warmup", "0.1",
                  "--report_steps", "50"],
        "figures": ["held-out F1", "held-out EM"],
    },
    "c3": {  # dev.json split by document into train / dev (selection) / held-out
        "script": "run_c3.py",
        "flags": ["--epochs_num", "2", "--batch_size", "32", "--seq_length", "128",
                  "--learning_rate", "3e-4", "--report_steps", "20"],
        "figures": ["held-out accuracy", "dev accuracy"],
    },
}
# UER-py's released miniature models, dev accuracy (its model zoo README).
UER_REFERENCE = {"book_review": "Tiny 83.4 / Mini 85.7", "chnsenticorp": "Tiny 91.4 / Mini 93.7"}

SPLIT_SEED = 2020
CMRC_HELDOUT_FRACTION = 0.15  # of dev.json's articles
C3_DEV_DOCS, C3_HELDOUT_DOCS = 200, 274  # of dev.json's 2,674 documents; the rest trains
SUBSTRING_MIN_CHARS = 32  # evaluation rows at least this long are also searched inside documents


# --- overlap check ---------------------------------------------------------------------------
def normalize(text):
    """The text with all whitespace removed: NER rows are space-separated characters, and
    spacing differences must not hide a copy."""
    return "".join(text.split())


def _rows_inside(text, by_prefix, width):
    """Normalized evaluation rows (grouped by their first ``width`` characters) found in text."""
    found = set()
    for start in range(len(text) - width + 1):
        candidates = by_prefix.get(text[start:start + width])
        if candidates:
            found.update(row for row in candidates if text.startswith(row, start))
    return found


def check_overlap(documents, eval_rows, min_chars=SUBSTRING_MIN_CHARS):
    """Removes evaluation text from a pre-training corpus.

    ``documents``: list of documents, each a list of lines. ``eval_rows``: {task: texts}.
    A line equal to an evaluation row (whitespace ignored) is dropped; then a document whose
    remaining text equals an evaluation row, or contains one of at least ``min_chars``
    characters, is dropped whole. Returns (kept documents, report dict)."""
    tasks_of = {}
    for task, texts in eval_rows.items():
        for text in texts:
            row = normalize(text)
            if row:
                tasks_of.setdefault(row, set()).add(task)
    by_prefix = {}
    for row in tasks_of:
        if len(row) >= min_chars:
            by_prefix.setdefault(row[:min_chars], []).append(row)
    kept, found = [], set()
    exact_lines = contained_docs = contained_lines = 0
    for document in documents:
        lines = []
        for line in document:
            row = normalize(line)
            if row in tasks_of:
                found.add(row)
                exact_lines += 1
            else:
                lines.append(line)
        joined = "".join(normalize(line) for line in lines)
        hits = _rows_inside(joined, by_prefix, min_chars)
        if joined in tasks_of:
            hits.add(joined)
        if hits:
            found |= hits
            contained_docs += 1
            contained_lines += len(lines)
        elif lines:
            kept.append(lines)
    per_task = {task: 0 for task in eval_rows}
    for row in found:
        for task in tasks_of[row]:
            per_task[task] += 1
    report = {"evaluation_rows": len(tasks_of), "rows_found": len(found),
              "rows_found_per_task": per_task, "lines_dropped_exact": exact_lines,
              "documents_dropped_containing": contained_docs,
              "lines_dropped_containing": contained_lines, "substring_min_chars": min_chars}
    return kept, report


# --- corpora ---------------------------------------------------------------------------------
def read_corpus(path):
    """Documents (lists of lines) of a BERT-format corpus or of "label<TAB>text" lines."""
    with open(path, encoding="utf-8-sig") as handle:
        raw = handle.read().splitlines()
    if raw and all("\t" in line for line in raw[:50] if line.strip()):
        if raw[0].split("\t", 1)[0] == "label":  # a task file's header
            raw = raw[1:]
        return [[line.split("\t", 1)[1]] for line in raw if line.strip()]
    documents, current = [], []
    for line in raw:
        if line.strip():
            current.append(line)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    return documents


def write_corpus(documents, path, target):
    """bert/albert read sentence-per-line documents separated by blank lines; the other targets
    read one document per line."""
    with open(path, "w", encoding="utf-8") as handle:
        for document in documents:
            if target in ("bert", "albert"):
                handle.write("\n".join(document) + "\n\n")
            else:
                handle.write("".join(line.strip() for line in document) + "\n")


def hold_out(documents, fraction, seed=SPLIT_SEED):
    """(training documents, held-out documents): a seeded sample, order kept."""
    chosen = set(random.Random(seed).sample(range(len(documents)), round(len(documents) * fraction)))
    return ([d for i, d in enumerate(documents) if i not in chosen],
            [d for i, d in enumerate(documents) if i in chosen])


def flag_value(flags, name, default=None):
    return flags[flags.index(name) + 1] if name in flags else default


# --- task data and splits ----------------------------------------------------------------------
def split_cmrc(data, seed=SPLIT_SEED, heldout_fraction=CMRC_HELDOUT_FRACTION):
    """SQuAD-format dict -> (train, held-out) dicts, split by article (file order kept)."""
    articles = data["data"]
    order = list(range(len(articles)))
    random.Random(seed).shuffle(order)
    heldout = set(order[:max(1, round(len(articles) * heldout_fraction))])
    part = lambda chosen: dict(data, data=[a for i, a in enumerate(articles) if (i in heldout) == chosen])
    return part(False), part(True)


def split_c3(documents, seed=SPLIT_SEED, dev_docs=C3_DEV_DOCS, heldout_docs=C3_HELDOUT_DOCS):
    """C3 document list -> (train, dev, held-out) lists, split by document (file order kept)."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    heldout = set(order[:heldout_docs])
    dev = set(order[heldout_docs:heldout_docs + dev_docs])
    pick = lambda test: [d for i, d in enumerate(documents) if test(i)]
    return (pick(lambda i: i not in heldout and i not in dev), pick(lambda i: i in dev),
            pick(lambda i: i in heldout))


def fix_answer_starts(data):
    """run_cmrc.py trains on answers[0] and refuses one whose answer_start misses its text (three
    in CMRC's dev.json are one or two characters off): move it to the nearest occurrence, drop
    the question if the text is absent. Returns (moved, dropped)."""
    moved = dropped = 0
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            context, kept = paragraph["context"], []
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                text, start = answer["text"], answer["answer_start"]
                if context[start:start + len(text)] != text:
                    starts = [m.start() for m in re.finditer(re.escape(text), context)]
                    if not starts:
                        dropped += 1
                        continue
                    answer["answer_start"] = min(starts, key=lambda s: abs(s - start))
                    moved += 1
                kept.append(qa)
            paragraph["qas"] = kept
    return moved, dropped


def first_cmrc_questions(data, limit):
    """The first ``limit`` questions of a SQuAD-format dict (None: all), empty parts removed."""
    if limit is None:
        return data
    articles = []
    for article in data["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = paragraph["qas"][:limit]
            limit -= len(qas)
            if qas:
                paragraphs.append(dict(paragraph, qas=qas))
        if paragraphs:
            articles.append(dict(article, paragraphs=paragraphs))
    return dict(data, data=articles)


def first_c3_questions(documents, limit):
    if limit is None:
        return documents
    kept = []
    for document in documents:
        questions = document[1][:limit]
        limit -= len(questions)
        if questions:
            kept.append([document[0], questions, *document[2:]])
    return kept


def cmrc_texts(data):
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            yield paragraph["context"]
            yield from (qa["question"] for qa in paragraph["qas"])


def c3_texts(documents):
    for document in documents:
        yield "\n".join(document[0])
        yield from document[0]
        yield from (q["question"] for q in document[1])


def read_tsv(path):
    with open(path, encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()
    return lines[0], [line for line in lines[1:] if line.strip()]


def tsv_column(header, rows, name):
    index = header.split("\t").index(name)
    return [row.split("\t")[index] for row in rows]


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join([header, *rows]) + "\n")


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)


def prepare_tsv_task(name, source, target, train_rows, eval_rows, extra):
    """Copies train/dev/test TSVs (first rows only when asked); returns (flags, eval texts)."""
    paths, texts = {}, []
    for part, limit in (("train", train_rows), ("dev", eval_rows), ("test", eval_rows)):
        header, rows = read_tsv(os.path.join(source, f"{part}.tsv"))
        if part != "train":
            texts += tsv_column(header, rows, "text_a")  # every row checked, not just the used
        paths[part] = os.path.join(target, f"{part}.tsv")
        write_tsv(paths[part], header, rows[:limit] if limit else rows)
        if part == "train" and name != "msra_ner":
            extra = ["--labels_num", str(1 + max(int(v) for v in tsv_column(header, rows, "label"))),
                     *extra]  # a few first rows may lack a label
    return ["--train_path", paths["train"], "--dev_path", paths["dev"], "--test_path",
            paths["test"], *extra], texts


def prepare_task(name, data_dir, out_dir, train_rows=None, eval_rows=None):
    """Writes the task's files into out_dir; returns (data flags, evaluation texts, notes)."""
    source = os.path.join(data_dir, "datasets", name)
    os.makedirs(out_dir, exist_ok=True)
    if name in ("book_review", "chnsenticorp"):
        flags, texts = prepare_tsv_task(name, source, out_dir, train_rows, eval_rows, [])
        return flags, texts, ""
    if name == "msra_ner":
        flags, texts = prepare_tsv_task(name, source, out_dir, train_rows, eval_rows,
                                        ["--label2id_path", os.path.join(source, "label2id.json")])
        return flags, texts, ""
    if name == "cmrc2018":
        with open(os.path.join(source, "dev.json"), encoding="utf-8") as handle:
            train, heldout = split_cmrc(json.load(handle))
        moved, dropped = fix_answer_starts(train)
        paths = {part: os.path.join(out_dir, f"{part}.json") for part in ("train", "heldout")}
        write_json(paths["train"], first_cmrc_questions(train, train_rows))
        write_json(paths["heldout"], first_cmrc_questions(heldout, eval_rows))
        count = lambda d: sum(len(p["qas"]) for a in d["data"] for p in a["paragraphs"])
        notes = (f"dev.json split by article (seed {SPLIT_SEED}): {len(train['data'])} articles / "
                 f"{count(train)} questions train, {len(heldout['data'])} / {count(heldout)} "
                 f"held out (--dev_path); {moved} training answer_start moved, {dropped} dropped")
        return (["--train_path", paths["train"], "--dev_path", paths["heldout"]],
                list(cmrc_texts(heldout)), notes)
    if name == "c3":
        with open(os.path.join(source, "dev.json"), encoding="utf-8") as handle:
            train, dev, heldout = split_c3(json.load(handle))
        paths = {part: os.path.join(out_dir, f"{part}.json") for part in ("train", "dev", "heldout")}
        write_json(paths["train"], first_c3_questions(train, train_rows))
        write_json(paths["dev"], first_c3_questions(dev, eval_rows))
        write_json(paths["heldout"], first_c3_questions(heldout, eval_rows))
        count = lambda docs: sum(len(d[1]) for d in docs)
        notes = (f"dev.json split by document (seed {SPLIT_SEED}): {len(train)} documents / "
                 f"{count(train)} questions train, {len(dev)} / {count(dev)} dev, "
                 f"{len(heldout)} / {count(heldout)} held out (--test_path)")
        return (["--train_path", paths["train"], "--dev_path", paths["dev"], "--test_path",
                 paths["heldout"]], list(c3_texts(dev)) + list(c3_texts(heldout)), notes)
    raise ValueError(f"unknown task {name}")


# --- metric parsers ------------------------------------------------------------------------------
ACCURACY = re.compile(r"Acc\. \(Correct/Total\): ([0-9.]+)")
NER_PRF = re.compile(r"Report precision, recall, and f1:\s*\n\s*([0-9.]+), ([0-9.]+), ([0-9.]+)")
CMRC_LINE = re.compile(r"Avg: ?([0-9.]+),F1: ?([0-9.]+),EM: ?([0-9.]+)")


def percent(fraction):
    return round(float(fraction) * 100, 4)


def _dev_and_test(output):
    """Output before and after the engine's 'Test set evaluation.' line."""
    dev, _, test = output.partition("Test set evaluation.")
    return dev, test


def _best(rows, key):
    """The first row with the highest key: the epoch the engine keeps (strictly better only)."""
    return max(rows, key=key) if rows else None


def parse_accuracy(output, dev_name="dev accuracy", test_name="test accuracy"):
    dev, test = _dev_and_test(output)
    per_epoch = [percent(x) for x in ACCURACY.findall(dev)]
    tested = [percent(x) for x in ACCURACY.findall(test)]
    return {dev_name: _best(per_epoch, lambda x: x), test_name: tested[-1] if tested else None}


def parse_ner(output):
    dev, test = _dev_and_test(output)
    per_epoch = [percent(m[2]) for m in NER_PRF.findall(dev)]
    tested = [percent(m[2]) for m in NER_PRF.findall(test)]
    return {"dev F1": _best(per_epoch, lambda x: x), "test F1": tested[-1] if tested else None}


def parse_cmrc(output):
    """Held-out F1/EM at the epoch with the best Avg (run_cmrc's selection score)."""
    rows = [tuple(float(x) for x in m) for m in CMRC_LINE.findall(output)]
    best = _best(rows, lambda row: row[0])
    return {"held-out F1": best[1] if best else None, "held-out EM": best[2] if best else None}


def parse_c3(output):
    return parse_accuracy(output, "dev accuracy", "held-out accuracy")


PARSERS = {"run_classifier.py": parse_accuracy, "run_ner.py": parse_ner,
           "run_cmrc.py": parse_cmrc, "run_c3.py": parse_c3}


# --- running scripts -----------------------------------------------------------------------------
def show(command):
    return " ".join(["python3", *command])


def run_script(command, log_path=None, check=True):
    """Runs a root script; returns (stdout, seconds). The output goes to log_path."""
    print("$ " + show(command), flush=True)
    start = time.time()
    result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seconds = time.time() - start
    if log_path:
        with open(log_path, "w", encoding="utf-8") as handle:
            handle.write(f"$ {show(command)}\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    if check and result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed (exit {result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    print(f"  ({seconds:.0f} s)", flush=True)
    return (result.stdout if result.returncode == 0 else None), seconds


REPORT_STEP = re.compile(r"^\|\s*(\d+)/\s*\d+ steps\|")


def steps_per_second(lines):
    """steps/s from (time, line) pairs of a pretrain.py run, timed from its first report line to
    its last: start-up and the first steps (compilation, warm-up) are not counted."""
    points = [(t, int(m.group(1))) for t, line in lines if (m := REPORT_STEP.match(line))]
    if len(points) < 2:
        raise RuntimeError("the calibration run printed fewer than 2 report lines")
    (t0, s0), (t1, s1) = points[0], points[-1]
    return (s1 - s0) / max(t1 - t0, 1e-6)


def calibrate(base_command, work_dir, steps=CALIBRATION_STEPS):
    """Runs ``steps`` steps of pretrain.py (a report every sixth of them); returns steps/s."""
    os.makedirs(work_dir, exist_ok=True)
    command = [*base_command, "--output_model_path", os.path.join(work_dir, "model.bin"),
               "--total_steps", str(steps), "--report_steps", str(max(1, steps // 6)),
               "--save_checkpoint_steps", str(steps + 1)]
    print("$ " + show(command) + "   (calibration)", flush=True)
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    timed = [(time.monotonic(), line.rstrip("\n")) for line in process.stdout]
    if process.wait() != 0:
        raise RuntimeError("calibration failed:\n" + "\n".join(line for _, line in timed[-30:]))
    shutil.rmtree(work_dir, ignore_errors=True)
    return steps_per_second(timed)


# held-out report lines and end-of-run verdicts; not the "unigram level" note under every report
NOTE_WORDS = re.compile(r"^\| dev|plateau|held.out|warning|learning check", re.IGNORECASE)


def pretrain_summary(output):
    """The last 5 lines pretrain.py printed, and its lines about a held-out set or a plateau."""
    lines = [line for line in output.splitlines() if line.strip()]
    notes = [line for line in lines if NOTE_WORDS.search(line)]
    return lines[-5:], notes[-5:]


# --- pre-training --------------------------------------------------------------------------------
def build_datasets(corpora, out, vocab):
    """preprocess.py on each non-empty {name: documents} (DIR/<name>.txt -> DIR/dataset*.pt).
    Returns (dataset paths by name, the first command, its output, seconds in all)."""
    target = flag_value(RECIPE_PREPROCESS, "--target", "bert")
    datasets, first, seconds_in_all = {}, None, 0.0
    for name, documents in corpora.items():
        if not documents:
            continue
        corpus = os.path.join(out, f"{name}.txt")
        write_corpus(documents, corpus, target)
        datasets[name] = os.path.join(out, name.replace("corpus", "dataset") + ".pt")
        command = ["preprocess.py", "--corpus_path", corpus, "--vocab_path", vocab,
                   "--dataset_path", datasets[name], "--processes_num",
                   str(PREPROCESS_PROCESSES), *RECIPE_PREPROCESS]
        output, seconds = run_script(command)
        seconds_in_all += seconds
        first = first or (command, output)
    return datasets, first[0], first[1], seconds_in_all


def pretrain(args, eval_texts, vocab, config):
    """Corpus -> overlap check -> dataset -> calibration -> pretrain.py. Returns its record."""
    out = args.output_dir
    documents = []
    for name in RECIPE_CORPORA:
        documents += read_corpus(os.path.join(args.data_dir, name))
    lines_in = sum(len(d) for d in documents)
    documents, overlap = check_overlap(documents, eval_texts)
    overlap["corpus_lines_before"] = lines_in
    overlap["corpus_lines_after"] = sum(len(d) for d in documents)
    documents, dev_documents = hold_out(documents, RECIPE_DEV_FRACTION)
    datasets, preprocess_command, preprocess_output, preprocess_seconds = build_datasets(
        {"corpus": documents, "corpus_dev": dev_documents}, out, vocab)
    base = ["pretrain.py", "--dataset_path", datasets["corpus"], "--vocab_path", vocab,
            "--config_path", config, *RECIPE_PRETRAIN]
    # calibrated without the held-out evaluations, whose time comes on top of the budget
    rate = calibrate(base, os.path.join(out, "calibration"), args.calibration_steps)
    total_steps = max(1, round(args.pretrain_minutes * 60 * rate))
    model = os.path.join(out, "pretrained.bin")
    # --snapshots N: a <model>-<step> copy every total/N steps (the gain curve); else none
    every = -(-total_steps // args.snapshots) if args.snapshots > 1 else total_steps + 1
    command = [*base, "--output_model_path", model, "--total_steps", str(total_steps),
               "--save_checkpoint_steps", str(every),
               "--report_steps", str(max(1, total_steps // 50))]
    if "corpus_dev" in datasets:
        command += ["--dev_dataset_path", datasets["corpus_dev"],
                    "--dev_steps", str(max(1, -(-total_steps // RECIPE_DEV_EVALS)))]
    output, seconds = run_script(command, os.path.join(out, "pretrain.log"))
    last_lines, notes = pretrain_summary(output)
    snapshots = [{"path": f"{model}-{step}", "step": step, "minutes": step / rate / 60}
                 for step in range(every, total_steps, every) if os.path.isfile(f"{model}-{step}")]
    return {"model": model, "command": show(command),
            "preprocess_command": show(preprocess_command),
            "held_out_documents": len(dev_documents),
            "preprocess_summary": (preprocess_output.strip().splitlines() or [""])[-1],
            "preprocess_minutes": preprocess_seconds / 60, "calibration_steps_per_s": rate,
            "budget_minutes": args.pretrain_minutes, "total_steps": total_steps,
            "minutes": seconds / 60, "last_lines": last_lines, "notes": notes,
            "overlap": overlap, "corpora": RECIPE_CORPORA, "snapshots": snapshots}


# --- fine-tuning ---------------------------------------------------------------------------------
def finetune_task(name, data_flags, args, vocab, config, model):
    """Every seed, both sides. Returns {figures: {fig: {side: [values]}}, minutes, command}."""
    setting = TASK_SETTINGS[name]
    work = os.path.join(args.output_dir, "work")
    logs = os.path.join(args.output_dir, "logs")
    os.makedirs(work, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    record = {"figures": {fig: {"random": [], "pretrained": []} for fig in setting["figures"]},
              "minutes": {"random": 0.0, "pretrained": 0.0}, "seeds": [], "failures": []}
    for seed in range(1, args.seeds + 1):
        record["seeds"].append(seed)
        for side in ("random", "pretrained"):
            output_model = os.path.join(work, f"{name}-{side}-seed{seed}.bin")
            command = [setting["script"], *data_flags, "--vocab_path", vocab,
                       "--config_path", config, *setting["flags"], "--seed", str(seed),
                       "--output_model_path", output_model]
            if side == "pretrained":
                command[1:1] = ["--pretrained_model_path", model]
            elif seed == 1:
                record["command"] = show(command)
            log = os.path.join(logs, f"{name}-{side}-seed{seed}.log")
            output, seconds = run_script(command, log, check=False)
            record["minutes"][side] += seconds / 60
            values = PARSERS[setting["script"]](output) if output is not None else {}
            missing = [fig for fig in setting["figures"] if values.get(fig) is None]
            if output is None or missing:  # a crash, or output this parser does not know
                why = "failed" if output is None else f"no {', '.join(missing)} in its output"
                record["failures"].append(f"{side} seed {seed}: {why}, see {log}")
                print(f"  FAILED ({why}): see {log}", flush=True)
            for fig in setting["figures"]:
                record["figures"][fig][side].append(values.get(fig))
            for path in (output_model, output_model + ".json"):
                if os.path.exists(path):
                    os.remove(path)  # every side and seed writes one; keep the disk small
    return record


# --- the scorecard ---------------------------------------------------------------------------------
def cpu_description():
    """Model name and the bf16/AMX flags of /proc/cpuinfo (first processor)."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"model": info.get("model name") or platform.processor() or "unknown",
            "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "amx": sorted(f for f in flags if f.startswith("amx"))}


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fmt(mean, sd=None):
    if mean is None:
        return "-"
    return f"{mean:.2f}" + (f" ± {sd:.2f}" if sd is not None else "")


def table_rows(results):
    """One row per (task, figure): the headline figure first, minutes and reference on it."""
    rows = []
    for name, record in results.items():
        for i, (fig, sides) in enumerate(record["figures"].items()):
            rnd, pre = mean_sd(sides["random"]), mean_sd(sides["pretrained"])
            diff = pre[0] - rnd[0] if None not in (pre[0], rnd[0]) else None
            minutes = (f"{record['minutes']['random']:.1f} / {record['minutes']['pretrained']:.1f}"
                       if i == 0 else "")
            reference = UER_REFERENCE.get(name, "-") if i == 0 else ""
            rows.append([name if i == 0 else "", fig, fmt(*rnd), fmt(*pre),
                         "-" if diff is None else f"{diff:+.2f}", minutes, reference])
    return rows


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


RESULT_HEADER = ["task", "metric (%)", "random init", "pre-trained", "difference",
                 "fine-tuning min, all seeds (random / pre-trained)", "UER-py released miniatures (dev)"]


def write_scorecard(card, path_md):
    """Markdown scorecard; returns the results table (also printed)."""
    cpu, pre = card["cpu"], card["pretraining"]
    table = markdown_table(RESULT_HEADER, table_rows(card["results"]))
    lines = ["# Scorecard: pre-trained vs random initialisation", "",
             f"- Date: {card['date']}",
             f"- CPU: {cpu['model']}, {cpu['cores']} cores; avx512_bf16: "
             f"{'yes' if cpu['avx512_bf16'] else 'no'}; amx: {', '.join(cpu['amx']) or 'no'}",
             f"- Config: `{card['config']}`; vocabulary `{card['vocab']}`; fine-tuning seeds "
             f"{', '.join(map(str, card['seeds']))}"
             + (f"; first {card['train_rows']} training rows" if card["train_rows"] else "")
             + (f"; first {card['eval_rows']} evaluation rows" if card["eval_rows"] else ""), ""]
    lines += ["## Pre-training", ""]
    if pre.get("given"):
        lines += [f"Not run: scoring the given model `{pre['model']}`. The overlap check was not "
                  "run (its corpus is unknown here).", ""]
    else:
        overlap = pre["overlap"]
        per_task = ", ".join(f"{t} {n}" for t, n in overlap["rows_found_per_task"].items())
        held = (f"; {pre['held_out_documents']} documents held out in `corpus_dev.txt` "
                "(`--dev_dataset_path`)" if pre["held_out_documents"] else "")
        lines += [f"- Corpora: {', '.join(pre['corpora'])} -> `corpus.txt`{held}; "
                  f"`{pre['preprocess_command']}`",
                  f"  ({pre['preprocess_summary']})",
                  f"- Command: `{pre['command']}`",
                  f"- Budget {pre['budget_minutes']:g} min; calibration "
                  f"{pre['calibration_steps_per_s']:.2f} steps/s -> {pre['total_steps']} steps; "
                  f"real: **{pre['minutes']:.1f} min** of pretrain.py "
                  f"(+ {pre['preprocess_minutes']:.1f} min preprocessing)",
                  "- Last lines of pretrain.py (all in `pretrain.log`):", "",
                  *[f"      {line}" for line in pre["last_lines"]], ""]
        if pre["notes"]:
            lines += ["- Its lines about a held-out set or a plateau:", "",
                      *[f"      {line}" for line in pre["notes"]], ""]
        lines += ["## Overlap check", "",
                  f"Dev/test rows of the scored tasks ({overlap['evaluation_rows']} distinct texts, "
                  "whitespace removed) against the pre-training corpus: exact line matches, then "
                  f"rows of at least {overlap['substring_min_chars']} characters inside a document "
                  f"(substring search). Found: **{overlap['rows_found']}** rows ({per_task}). "
                  f"Dropped: {overlap['lines_dropped_exact']} lines equal to a row, "
                  f"{overlap['documents_dropped_containing']} documents "
                  f"({overlap['lines_dropped_containing']} lines) containing one; corpus "
                  f"{overlap['corpus_lines_before']} -> {overlap['corpus_lines_after']} lines.", ""]
    lines += ["## Results", "",
              "Mean ± sample standard deviation over the seeds; difference = pre-trained - random.",
              "", table, ""]
    lines += ["## Per-seed values", ""]
    seed_rows = []
    for name, record in card["results"].items():
        for fig, sides in record["figures"].items():
            for side in ("random", "pretrained"):
                seed_rows.append([name, fig, side, *(fmt(v) for v in sides[side])])
    lines += [markdown_table(["task", "metric (%)", "init", *(f"seed {s}" for s in card["seeds"])],
                             seed_rows), ""]
    lines += ["## Fine-tuning commands", "",
              "The random-init command of seed 1; the pre-trained run adds "
              f"`--pretrained_model_path {pre['model']}`; seed k passes `--seed k`. Outputs: "
              "`logs/<task>-<init>-seed<k>.log`.", ""]
    for name, record in card["results"].items():
        lines += [f"- {name}: `{record['command']}`"]
        if record["notes"]:
            lines += [f"  ({record['notes']})"]
        for failure in record["failures"]:
            lines += [f"  - {failure}"]
    with open(path_md, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pretrain_minutes", type=float, default=60.0,
                        help="Wall-time budget of pretrain.py (fractions allowed).")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--tasks", nargs="+", default=list(TASK_SETTINGS), choices=list(TASK_SETTINGS))
    parser.add_argument("--seeds", type=int, default=3, help="Fine-tuning seeds 1..N per side.")
    parser.add_argument("--pretrained_model_path", default=None,
                        help="Score this model instead of pre-training one (no overlap check).")
    parser.add_argument("--snapshots", type=int, default=1,
                        help="Also keep N-1 evenly spaced copies of the model during "
                             "pre-training (DIR/pretrained.bin-<step>), for a gain curve.")
    parser.add_argument("--config_path", default=None, help=f"Instead of {RECIPE_CONFIG}.")
    parser.add_argument("--train_rows", type=int, default=None,
                        help="Use only the first K training rows/sentences/questions per task.")
    parser.add_argument("--eval_rows", type=int, default=None,
                        help="Use only the first K rows/questions of each dev/test part.")
    parser.add_argument("--calibration_steps", type=int, default=CALIBRATION_STEPS,
                        help="Steps of the pretrain.py run that measures steps/s (at least 3).")
    parser.add_argument("--data_dir", default=SHARED, help="The shared data folder.")
    args = parser.parse_args(argv)
    if (args.seeds < 1 or args.snapshots < 1 or args.pretrain_minutes <= 0
            or args.calibration_steps < 3):
        parser.error("--seeds, --snapshots and --pretrain_minutes must be positive, "
                     "--calibration_steps >= 3")
    if args.pretrained_model_path and not os.path.isfile(args.pretrained_model_path):
        parser.error(f"--pretrained_model_path {args.pretrained_model_path}: no such file")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.output_dir = os.path.abspath(args.output_dir)
    os.makedirs(args.output_dir, exist_ok=True)
    vocab = os.path.join(args.data_dir, "vocab", "google_zh_vocab.txt")
    config = args.config_path or RECIPE_CONFIG
    card = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu_description(), "config": config, "vocab": vocab,
            "seeds": list(range(1, args.seeds + 1)), "train_rows": args.train_rows,
            "eval_rows": args.eval_rows, "recipe": {
                "config": RECIPE_CONFIG, "corpora": RECIPE_CORPORA,
                "preprocess": RECIPE_PREPROCESS, "pretrain": RECIPE_PRETRAIN,
                "dev_fraction": RECIPE_DEV_FRACTION, "dev_evaluations": RECIPE_DEV_EVALS},
            "task_settings": {name: TASK_SETTINGS[name] for name in args.tasks}, "results": {}}
    tasks, eval_texts = {}, {}
    for name in args.tasks:  # splits first: the overlap check needs their evaluation parts
        flags, texts, notes = prepare_task(name, args.data_dir,
                                           os.path.join(args.output_dir, "data", name),
                                           args.train_rows, args.eval_rows)
        tasks[name], eval_texts[name] = (flags, notes), texts
    if args.pretrained_model_path:
        card["pretraining"] = {"given": True, "model": os.path.abspath(args.pretrained_model_path)}
    else:
        card["pretraining"] = pretrain(args, eval_texts, vocab, config)
    json_path = os.path.join(args.output_dir, "scorecard.json")
    for name, (flags, notes) in tasks.items():
        record = finetune_task(name, flags, args, vocab, config, card["pretraining"]["model"])
        record["notes"] = notes
        card["results"][name] = record
        with open(json_path, "w", encoding="utf-8") as handle:  # partial results survive a crash
            json.dump(card, handle, indent=2, ensure_ascii=False)
    shutil.rmtree(os.path.join(args.output_dir, "work"), ignore_errors=True)
    table = write_scorecard(card, os.path.join(args.output_dir, "scorecard.md"))
    print("\n" + table)
    print(f"\nWrote {os.path.join(args.output_dir, 'scorecard.md')} and {json_path}")
    failed = [f for record in card["results"].values() for f in record["failures"]]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:  # a preprocessing or pre-training step failed
        sys.exit(f"error: {error}")
