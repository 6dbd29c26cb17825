"""Whole word masking: the masking rule, word boundaries from jieba + WordPiece, preprocess.py
(static and dynamic), the loader, pretrain.py, and the error lines."""
import hashlib
import itertools
import os
import re
import sys

import numpy as np
import pytest

import preprocess
import pretrain
from tests.conftest import shared_path
from uer.data.loader import PretrainLoader
from uer.data.masking import mask_batch
from uer.data.segmenter import WordEncoder, build_segmenter
from uer.data.storage import open_dataset, read_header
from uer.errors import UerError
from uer.tokenizers import str2tokenizer
from uer.vocab import Vocab

V, CLS, SEP, MASK = 1000, 101, 102, 103


def words_of(block, word_start):
    """(row, start, end) of every word, by the rule of mask_batch: a word starts at a
    candidate flagged as a start or following a non-candidate."""
    words = []
    for row in range(len(block)):
        candidate = (block[row] != 0) & (block[row] != CLS) & (block[row] != SEP)
        start = None
        for pos in range(block.shape[1] + 1):
            inside = pos < block.shape[1] and candidate[pos]
            begins = inside and (word_start[row, pos] or start is None)
            if start is not None and (not inside or begins):
                words.append((row, start, pos))
                start = None
            if begins:
                start = pos
    return words


def make_block(rows=1500, length=64, seed=0, max_word=4):
    """[CLS] a [SEP] b [SEP] rows of random lengths with random words of 1..max_word tokens."""
    rng = np.random.default_rng(seed)
    block = np.zeros((rows, length), dtype=np.int64)
    word_start = np.zeros((rows, length), dtype=bool)
    for row in range(rows):
        a, b = rng.integers(1, (length - 3) // 2, size=2)
        block[row, :a + b + 3] = [CLS, *rng.integers(200, V, size=a), SEP,
                                  *rng.integers(200, V, size=b), SEP]
        pos = 0
        while pos < a + b + 3:
            word_start[row, pos] = True
            pos += int(rng.integers(1, max_word + 1))
    return block, word_start


def test_masks_cover_whole_words_within_the_budget():
    block, word_start = make_block()
    masked, tgt = mask_batch(block, np.random.default_rng(1), V, CLS, SEP, MASK,
                             word_start=word_start)
    chosen = tgt != 0
    assert not chosen[np.isin(block, [0, CLS, SEP])].any()
    assert (tgt[chosen] == block[chosen]).all() and (masked[~chosen] == block[~chosen]).all()
    partial = [w for w in words_of(block, word_start)
               if 0 < chosen[w[0], w[1]:w[2]].sum() < w[2] - w[1]]
    assert not partial
    budget = np.maximum(1, np.round(0.15 * (block != 0).sum(axis=1)))
    counts = chosen.sum(axis=1)
    assert (counts <= budget).all()
    # Words that do not fit are skipped, so smaller ones still fill most of the budget.
    assert counts.sum() > 0.9 * budget.sum()


def test_word_crossing_a_special_token_is_cut_there():
    # Flags say "one long word", but [SEP] and padding are never part of a word.
    block = np.array([[CLS, 300, 301, 302, SEP, 303, 304, SEP] + [0] * 12])
    word_start = np.zeros_like(block, dtype=bool)
    word_start[0, 0] = True
    seen = set()
    for seed in range(40):
        _, tgt = mask_batch(block, np.random.default_rng(seed), V, CLS, SEP, MASK,
                            word_start=word_start)
        seen.add(tuple(np.nonzero(tgt[0])[0]))
    # Budget round(0.15 * 8) = 1: neither the 3-token nor the 2-token word ever fits.
    assert seen == {()}
    block = np.array([[CLS] + list(range(300, 318)) + [SEP, 400, 401, SEP]])
    word_start = np.zeros_like(block, dtype=bool)  # budget 3 fits [400, 401] only
    _, tgt = mask_batch(block, np.random.default_rng(0), V, CLS, SEP, MASK,
                        word_start=word_start)
    assert list(np.nonzero(tgt[0])[0]) == [20, 21]


def test_replacement_is_decided_once_per_word_80_10_10():
    block, word_start = make_block(4000, length=128, seed=2, max_word=3)
    masked, tgt = mask_batch(block, np.random.default_rng(3), V, CLS, SEP, MASK,
                             word_start=word_start)
    kinds = {"mask": 0, "kept": 0, "random": 0}
    for row, start, end in words_of(block, word_start):
        if not tgt[row, start]:
            continue
        new, old = masked[row, start:end], block[row, start:end]
        if (new == MASK).all():
            kinds["mask"] += 1
        elif (new == old).all():
            kinds["kept"] += 1
        else:
            assert not (new == MASK).any()  # never a mix of [MASK] and other tokens
            assert not np.isin(new, [0, CLS, SEP, MASK]).any()
            kinds["random"] += 1
    total = sum(kinds.values())
    assert total > 10000
    assert abs(kinds["mask"] / total - 0.8) < 0.02
    assert abs(kinds["kept"] / total - 0.1) < 0.015
    assert abs(kinds["random"] / total - 0.1) < 0.015


def test_random_words_get_a_random_id_per_token():
    block = np.array([[CLS] + list(range(300, 340)) + [SEP]])
    word_start = np.zeros_like(block, dtype=bool)
    word_start[0, [0, 1, 5]] = True  # words [1:5] (4 tokens) and [5:41]; budget round(6.3)=6
    differing = 0
    for seed in range(300):
        masked, tgt = mask_batch(block, np.random.default_rng(seed), V, CLS, SEP, MASK,
                                 word_start=word_start)
        new = masked[0, 1:5]
        if tgt[0, 1] and not (new == MASK).any() and (new != block[0, 1:5]).any():
            differing += len(set(new.tolist())) > 1
    assert differing > 10


def test_same_seed_same_masks_and_another_seed_differs():
    block, word_start = make_block(300)

    def run(seed):
        return mask_batch(block, np.random.default_rng(seed), V, CLS, SEP, MASK,
                          word_start=word_start)
    first, second, other = run(5), run(5), run(6)
    assert (first[0] == second[0]).all() and (first[1] == second[1]).all()
    assert (first[1] != other[1]).any()
    # Without word_start the draws are those of token mode, as before.
    plain = mask_batch(block, np.random.default_rng(5), V, CLS, SEP, MASK)
    assert ((plain[1] != 0).sum(axis=1) == np.maximum(1, np.round(0.15 * (block != 0).sum(1)))).all()


def test_span_and_whole_word_masking_together_are_refused():
    block, word_start = make_block(4)
    with pytest.raises(UerError, match="choose one"):
        mask_batch(block, np.random.default_rng(0), V, CLS, SEP, MASK, span_masking=True,
                   word_start=word_start)


# --- word boundaries -------------------------------------------------------------------
@pytest.fixture(scope="module")
def zh_vocab():
    return Vocab.from_file(shared_path("vocab", "google_zh_vocab.txt"))


@pytest.fixture(scope="module")
def tokenizer(zh_vocab):
    return str2tokenizer["bert"](None, vocab=zh_vocab)


@pytest.fixture(scope="module")
def jieba_segmenter():
    pytest.importorskip("jieba")
    return build_segmenter("jieba")


def marked(tokenizer, ids, continues):
    return "".join(("" if c else "|") + tok
                   for tok, c in zip(tokenizer.convert_ids_to_tokens(ids), continues))


def test_chinese_words_and_english_pieces_are_grouped(tokenizer, jieba_segmenter):
    text = "我们喜欢南京市长江大桥 playing football"
    ids, continues = WordEncoder(tokenizer, jieba_segmenter).flags(text)
    assert ids == tokenizer.encode(text)
    assert marked(tokenizer, ids, continues) == "|我们|喜欢|南京市|长江大桥|play##ing|f##oot##ball"


class CharSegmenter:
    """Cuts every character apart: per-word ids differ from the line's for English words."""

    def cut(self, text):
        return list(text)


def test_ids_never_change_and_wordpiece_pieces_group_when_words_disagree(tokenizer):
    text = "unbelievable 中文 playing"
    encoder = WordEncoder(tokenizer, CharSegmenter())
    ids, continues = encoder.flags(text)
    assert ids == tokenizer.encode(text) and encoder.mismatched == 1
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert continues == [t.startswith("##") for t in tokens]
    assert any(continues)


def test_real_corpus_lines_keep_their_ids(tokenizer, jieba_segmenter):
    encoder = WordEncoder(tokenizer, jieba_segmenter)
    path = shared_path("corpora", "CLUECorpusSmall_bert_sampled.txt")
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in itertools.islice(handle, 300)]
    words = tokens = 0
    for line in lines:
        ids, continues = encoder.flags(line)
        assert ids == tokenizer.encode(line)
        tokens += len(ids)
        words += len(continues) - sum(continues)
    assert 0.4 * tokens < words < 0.8 * tokens  # Chinese words average ~1.5-2 characters


def test_user_dictionary_joins_a_made_up_word(tokenizer, jieba_segmenter, tmp_path):
    text = "蓝鲸云盘上线了"
    before = WordEncoder(tokenizer, jieba_segmenter).flags(text)[1]
    user_dict = tmp_path / "user.dict"
    user_dict.write_text("蓝鲸云盘 100 n\n", encoding="utf-8")
    after = WordEncoder(tokenizer, build_segmenter("jieba", str(user_dict))).flags(text)[1]
    assert before[:4] != [False, True, True, True]
    assert after[:4] == [False, True, True, True]
    # The user words stay in that segmenter: a fresh one cuts as before.
    assert WordEncoder(tokenizer, build_segmenter("jieba")).flags(text)[1] == before


def test_missing_jieba_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba -> ImportError
    with pytest.raises(UerError, match=r"pip install jieba"):
        build_segmenter("jieba")


# --- preprocess.py / loader / pretrain.py end to end ---------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first 120 lines of the BERT-format corpus (10 documents)."""
    path = tmp_path_factory.mktemp("wwm") / "wwm_corpus.txt"
    with open(shared_path("corpora", "CLUECorpusSmall_bert_sampled.txt"), encoding="utf-8") as src:
        path.write_text("".join(itertools.islice(src, 120)), encoding="utf-8")
    return str(path)


def build(folder, corpus, name, *extra):
    output = str(folder / name)
    preprocess.main(["--corpus_path", corpus, "--vocab_path",
                     shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", output,
                     "--seq_length", "64", *extra])
    return output


def expect_error(capsys, main, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ")
    return lines[-1]


def test_dataset_built_without_the_flag_is_unchanged(tmp_path, corpus):
    # Digests of the files the code before whole word masking wrote for these options.
    static = build(tmp_path, corpus, "static.pt", "--target", "bert", "--dup_factor", "2")
    dynamic = build(tmp_path, corpus, "dynamic.pt", "--target", "mlm", "--dynamic_masking")
    digests = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (static, dynamic)]
    assert digests == ["30be6ae3cd4ac60a9bed3d74cb3125ffec1176df1dbca9b2728235407b95deaa",
                       "af13a703f4801f51900e7a314c221a704a75e3b33c56426142f9c469efd10efa"]
    assert "whole_word_masking" not in read_header(dynamic)
    assert "word_start" not in open_dataset(dynamic).arrays


@pytest.fixture(scope="module")
def wwm_datasets(tmp_path_factory, corpus):
    pytest.importorskip("jieba")
    folder = tmp_path_factory.mktemp("wwm_sets")
    common = ("--target", "bert", "--dup_factor", "1")
    return {
        "static": build(folder, corpus, "static.pt", *common, "--whole_word_masking"),
        "dynamic": build(folder, corpus, "dynamic.pt", *common, "--whole_word_masking",
                         "--dynamic_masking"),
        "plain": build(folder, corpus, "plain.pt", *common, "--dynamic_masking"),
    }


def all_rows(path):
    dataset = open_dataset(path)
    return dataset.batch(np.arange(len(dataset)))


def test_preprocess_dynamic_stores_word_boundaries_with_unchanged_ids(wwm_datasets, zh_vocab):
    # words_of and these tests use the ids of google_zh_vocab.txt's specials
    assert (zh_vocab.cls_id, zh_vocab.sep_id, zh_vocab.mask_id) == (CLS, SEP, MASK)
    header = read_header(wwm_datasets["dynamic"])
    assert header["whole_word_masking"] is True and header["segmenter"] == "jieba"
    assert header["arrays"]["word_start"]["shape"][1] == 8  # 64 positions, one bit each
    rows, plain = all_rows(wwm_datasets["dynamic"]), all_rows(wwm_datasets["plain"])
    assert (rows["src"] == plain["src"]).all()
    word_start, src = rows["word_start"], rows["src"]
    assert not word_start[src == 0].any()  # padding is never a word start
    assert word_start[:, 0].all()  # [CLS]
    real = src != 0
    assert 0.2 < 1 - word_start[real].mean() < 0.6  # many tokens continue a word


def test_preprocess_static_masks_whole_words(wwm_datasets):
    static, dynamic = all_rows(wwm_datasets["static"]), all_rows(wwm_datasets["dynamic"])
    original = np.where(static["tgt_mlm"] > 0, static["tgt_mlm"], static["src"])
    # Same instances (masking draws do not touch the builder's generator).
    assert (original == dynamic["src"]).all()
    chosen = static["tgt_mlm"] != 0
    words = words_of(original, dynamic["word_start"])
    assert not [w for w in words if 0 < chosen[w[0], w[1]:w[2]].sum() < w[2] - w[1]]
    assert sum(1 for w in words if w[2] - w[1] > 1 and chosen[w[0], w[1]]) > 20
    budget = np.maximum(1, np.round(0.15 * static["b_end"]))
    assert (chosen.sum(axis=1) <= budget).all()


def test_loader_masks_whole_words_and_is_reproducible(wwm_datasets, zh_vocab):
    def batches(seed):
        loader = PretrainLoader(wwm_datasets["dynamic"], 16, seed=seed, vocab=zh_vocab,
                                whole_word_masking=True)
        return list(itertools.islice(iter(loader), 6))
    first, again, other = batches(1), batches(1), batches(2)
    assert all((a[1] == b[1]).all() for a, b in zip(first, again))
    assert any((a[1] != b[1]).any() for a, b in zip(first, other))
    dataset = open_dataset(wwm_datasets["dynamic"])
    rows = dataset.batch(np.arange(len(dataset)))
    by_row = {tuple(row): ws for row, ws in zip(rows["src"].tolist(), rows["word_start"])}
    for src, tgt, _, _ in first:
        original = np.where(tgt.numpy() > 0, tgt.numpy(), src.numpy())
        word_start = np.stack([by_row[tuple(row)] for row in original.tolist()])
        words = words_of(original, word_start)
        chosen = tgt.numpy() != 0
        assert not [w for w in words if 0 < chosen[w[0], w[1]:w[2]].sum() < w[2] - w[1]]


def test_pretrain_runs_with_whole_word_masking(tmp_path, wwm_datasets, capsys):
    from pretrain_helpers import write_config

    output = str(tmp_path / "out" / "model.bin")
    os.makedirs(os.path.dirname(output))
    pretrain.main(["--dataset_path", wwm_datasets["dynamic"], "--vocab_path",
                   shared_path("vocab", "google_zh_vocab.txt"), "--output_model_path", output,
                   "--config_path", write_config(str(tmp_path)), "--target", "bert",
                   "--total_steps", "4", "--report_steps", "2", "--save_checkpoint_steps", "4",
                   "--batch_size", "4", "--whole_word_masking"])
    out = capsys.readouterr().out
    assert re.search(r"^\| +4/ +4 steps\|.*loss_mlm: \d+\.\d{3}", out, re.MULTILINE), out
    assert os.path.isfile(output)


def test_pretrain_refuses_a_dataset_without_word_boundaries(tmp_path, wwm_datasets, capsys):
    from pretrain_helpers import write_config

    message = expect_error(capsys, pretrain.main, [
        "--dataset_path", wwm_datasets["plain"], "--vocab_path",
        shared_path("vocab", "google_zh_vocab.txt"), "--output_model_path",
        str(tmp_path / "model.bin"), "--config_path", write_config(str(tmp_path)),
        "--total_steps", "2", "--whole_word_masking"])
    assert wwm_datasets["plain"] in message and "has no word boundaries" in message
    assert "preprocess.py --whole_word_masking --dynamic_masking" in message
    # A static dataset built with whole word masking already holds whole-word masks.
    PretrainLoader(wwm_datasets["static"], 4, vocab=None, whole_word_masking=True)


@pytest.mark.parametrize("main", [preprocess.main, pretrain.main], ids=["preprocess", "pretrain"])
def test_span_and_whole_word_masking_options_are_refused(main, tmp_path, corpus, capsys):
    if main is preprocess.main:
        argv = ["--corpus_path", corpus, "--dataset_path", str(tmp_path / "x.pt")]
    else:
        argv = ["--output_model_path", str(tmp_path / "model.bin")]
    message = expect_error(capsys, main, [*argv, "--span_masking", "--whole_word_masking"])
    assert "--span_masking" in message and "--whole_word_masking" in message
    assert not os.path.exists(tmp_path / "x.pt")


def test_missing_user_dict_is_one_error_line(tmp_path, corpus, capsys):
    missing = str(tmp_path / "no_such.dict")
    message = expect_error(capsys, preprocess.main, [
        "--corpus_path", corpus, "--vocab_path", shared_path("vocab", "google_zh_vocab.txt"),
        "--dataset_path", str(tmp_path / "x.pt"), "--whole_word_masking", "--user_dict", missing])
    assert message == f"error: {missing}: user dictionary not found (--user_dict)"
    assert os.listdir(tmp_path) == []


def test_whole_word_masking_needs_a_masked_lm_target(tmp_path, corpus, capsys):
    message = expect_error(capsys, preprocess.main, [
        "--corpus_path", corpus, "--vocab_path", shared_path("vocab", "google_zh_vocab.txt"),
        "--dataset_path", str(tmp_path / "x.pt"), "--target", "lm", "--whole_word_masking"])
    assert "needs a masked-LM target" in message and "not lm" in message
