"""preprocess.py on real corpus samples: instances of every target, determinism, process split."""
import hashlib
import itertools

import numpy as np
import pytest

import preprocess
from tests.conftest import shared_path
from uer.data.storage import open_dataset, read_header
from uer.tokenizers import str2tokenizer
from uer.vocab import Vocab


@pytest.fixture(scope="module")
def zh_vocab():
    return Vocab.from_file(shared_path("vocab", "google_zh_vocab.txt"))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Small real corpora: ~300 lines of the BERT-format sample (documents split by blank
    lines), 120 documents of the one-per-line sample, 300 labelled reviews."""
    folder = tmp_path_factory.mktemp("corpora")

    def head(name, count):
        with open(shared_path("corpora", name), encoding="utf-8") as handle:
            return list(itertools.islice(handle, count))

    paths = {}
    # Lines cut after each "。" and "，" give documents of many short sentences, so few
    # chunks hold a single sentence (those always take a random next segment).
    sentences = []
    for line in head("CLUECorpusSmall_bert_sampled.txt", 240):
        parts = [part + "，" for part in line.rstrip("\n").replace("。", "，").split("，") if part]
        sentences.extend(part + "\n" for part in parts or [""])
    paths["doc"] = folder / "doc.txt"
    paths["doc"].write_text("".join(sentences), encoding="utf-8")
    paths["line"] = folder / "line.txt"
    # Short lines keep the test fast; a few long ones exercise chunking.
    lines = [line[:300] if i % 10 else line[:1500] for i, line in
             enumerate(head("CLUECorpusSmall_sampled.txt", 120))]
    paths["line"].write_text("".join(l if l.endswith("\n") else l + "\n" for l in lines),
                             encoding="utf-8")
    paths["cls"] = folder / "cls.txt"
    paths["cls"].write_text("".join(head("book_review_cls.txt", 300)), encoding="utf-8")
    return {key: str(value) for key, value in paths.items()}


def build(tmp_path, corpus, target, *extra, name="dataset.pt"):
    output = str(tmp_path / name)
    argv = ["--corpus_path", corpus, "--vocab_path", shared_path("vocab", "google_zh_vocab.txt"),
            "--dataset_path", output, "--target", target, "--seq_length", "64", *extra]
    counts = preprocess.main(argv)
    return output, counts


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def encoded_lines(path, vocab):
    tokenizer = str2tokenizer["bert"](None, vocab=vocab)
    with open(path, encoding="utf-8") as handle:
        return [tokenizer.encode(line.rstrip("\n")) for line in handle]


def mlm_rows(dataset):
    arrays = dataset.batch(np.arange(len(dataset)))
    return arrays


# --- bert / albert ---------------------------------------------------------------------
@pytest.mark.parametrize("target", ["bert", "albert"])
def test_pair_targets_layout_labels_and_static_masks(tmp_path, corpora, zh_vocab, target):
    path, counts = build(tmp_path, corpora["doc"], target, "--dup_factor", "3",
                         "--seq_length", "128")
    header = read_header(path)
    assert header["target"] == target and header["seq_length"] == 128
    assert header["vocab_checksum"] == zh_vocab.checksum and not header["dynamic_masking"]
    dataset = open_dataset(path)
    arrays = dataset.batch(np.arange(len(dataset)))
    src, tgt = arrays["src"], arrays["tgt_mlm"]
    a_end, b_end, label = arrays["a_end"], arrays["b_end"], arrays["label"]
    assert src.shape == (counts["instances"], 128) and len(dataset) > 100
    original = np.where(tgt > 0, tgt, src)
    rows = np.arange(len(src))
    assert (original[:, 0] == zh_vocab.cls_id).all()
    assert (original[rows, a_end - 1] == zh_vocab.sep_id).all()
    assert (original[rows, b_end - 1] == zh_vocab.sep_id).all()
    assert (b_end <= 128).all() and (a_end >= 2).all() and (b_end > a_end).all()
    positions = np.arange(128)[None, :]
    assert (src[positions >= b_end[:, None]] == 0).all()
    # Special tokens are never masked; the mask rate is ~15% of each prefix.
    chosen = tgt > 0
    assert not np.isin(original[chosen], [zh_vocab.cls_id, zh_vocab.sep_id, 0]).any()
    budget = np.maximum(1, np.round(0.15 * b_end))
    assert (chosen.sum(axis=1) == budget).all()
    assert abs(chosen.sum() / b_end.sum() - 0.15) < 0.02
    # NSP / SOP labels are balanced (one-sentence chunks, rare here, always take a random
    # next segment, as in Google's algorithm).
    assert 0.4 < label.mean() < 0.6
    if target == "albert":
        # SOP: swapped pairs are sentences of the same chunk (single-sentence chunks may have
        # an empty side); the label is the only thing telling the order.
        assert set(np.unique(label)) == {0, 1}


def test_bert_keeps_every_document_including_the_last_without_blank_line(tmp_path, corpora,
                                                                         zh_vocab):
    with open(corpora["doc"], encoding="utf-8") as handle:
        text = handle.read().rstrip("\n")
    corpus = tmp_path / "no_trailing_blank.txt"
    corpus.write_text(text + "\n\n\n\n" + "最后一个文档的唯一句子。", encoding="utf-8")
    path, counts = build(tmp_path, str(corpus), "bert", "--dup_factor", "1",
                         "--short_seq_prob", "0")
    documents = sum(1 for block in (text + "\n\n最后").split("\n\n") if block.strip())
    assert counts["documents"] == documents
    # The last document's tokens appear as segment A of some instance.
    last = str2tokenizer["bert"](None, vocab=zh_vocab).encode("最后一个文档的唯一句子。")
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    original = np.where(arrays["tgt_mlm"] > 0, arrays["tgt_mlm"], arrays["src"])
    found = any(original[i, 1:1 + len(last)].tolist() == last for i in range(len(original)))
    assert found


# --- mlm --------------------------------------------------------------------------------
def test_mlm_keeps_every_token_and_line(tmp_path, corpora, zh_vocab):
    path, counts = build(tmp_path, corpora["line"], "mlm", "--dynamic_masking")
    header = read_header(path)
    assert header["dynamic_masking"] and "mask_offsets" not in header["arrays"]
    lines = encoded_lines(corpora["line"], zh_vocab)
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    src, n_real = arrays["src"], arrays["a_end"]
    expected = [tok for ids in lines for tok in [zh_vocab.cls_id, *ids, zh_vocab.sep_id]]
    produced = [tok for row, n in zip(src.tolist(), n_real.tolist()) for tok in row[:n]]
    assert produced == expected
    assert (n_real > 0).all()  # no all-padding chunk
    assert counts["documents"] == len(lines)


def test_mlm_full_sentences_packs_documents_and_dup_factor_copies(tmp_path, corpora, zh_vocab):
    lines = encoded_lines(corpora["line"], zh_vocab)
    total = sum(len(ids) + 2 for ids in lines)
    path, counts = build(tmp_path, corpora["line"], "mlm", "--full_sentences",
                         "--docs_buffer_size", "50", "--dup_factor", "2")
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    # Two copies of every token, one padded remainder per buffer flush (3 flushes) and copy.
    assert arrays["a_end"].sum() == 2 * total
    assert (arrays["a_end"] < 64).sum() <= 6
    chosen = arrays["tgt_mlm"] > 0
    assert abs(chosen.sum() / arrays["a_end"].sum() - 0.15) < 0.02


# --- lm / bilm --------------------------------------------------------------------------
def test_lm_instances_have_one_length_and_shift_by_one(tmp_path, corpora, zh_vocab):
    path, counts = build(tmp_path, corpora["line"], "lm")
    lines = encoded_lines(corpora["line"], zh_vocab)
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    src, tgt, n_real = arrays["src"], arrays["tgt"], arrays["a_end"]
    assert src.shape[1] == 64 and tgt.shape == src.shape
    src_stream = [t for row, n in zip(src.tolist(), n_real.tolist()) for t in row[:n]]
    tgt_stream = [t for row, n in zip(tgt.tolist(), n_real.tolist()) for t in row[:n]]
    sequences = [[zh_vocab.cls_id, *ids, zh_vocab.sep_id] for ids in lines]
    assert src_stream == [t for s in sequences for t in s[:-1]]
    assert tgt_stream == [t for s in sequences for t in s[1:]]
    positions = np.arange(64)[None, :]
    assert (tgt[positions >= n_real[:, None]] == 0).all()


def test_bilm_targets(tmp_path, corpora, zh_vocab):
    path, counts = build(tmp_path, corpora["line"], "bilm")
    lines = [ids for ids in encoded_lines(corpora["line"], zh_vocab)]
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    src, fwd, bwd, n = arrays["src"], arrays["tgt_fwd"], arrays["tgt_bwd"], arrays["a_end"]
    assert [t for row, k in zip(src.tolist(), n.tolist()) for t in row[:k]] == \
        [t for ids in lines for t in ids]
    for i in range(len(src)):
        k = n[i]
        assert fwd[i, :k - 1].tolist() == src[i, 1:k].tolist() and fwd[i, k - 1] == zh_vocab.sep_id
        assert bwd[i, 0] == zh_vocab.cls_id and bwd[i, 1:k].tolist() == src[i, :k - 1].tolist()
        assert not fwd[i, k:].any() and not bwd[i, k:].any()


# --- cls --------------------------------------------------------------------------------
def test_cls_single_and_pair_lines(tmp_path, corpora, zh_vocab):
    path, counts = build(tmp_path, corpora["cls"], "cls")
    labels = [int(line.split("\t")[0]) for line in open(corpora["cls"], encoding="utf-8")]
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    assert arrays["label"].tolist() == labels
    assert read_header(path)["labels_num"] == max(labels) + 1
    assert (arrays["src"][:, 0] == zh_vocab.cls_id).all()
    rows = np.arange(len(labels))
    assert (arrays["src"][rows, arrays["a_end"] - 1] == zh_vocab.sep_id).all()
    assert (arrays["a_end"] == arrays["b_end"]).all()

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\ufeff1\t第一句话\t第二句\n0\t" + "长" * 100 + "\t" + "短" * 10 + "\n",
                     encoding="utf-8")
    path, _ = build(tmp_path, str(pairs), "cls", name="pairs.pt")
    arrays = open_dataset(path).batch(np.arange(2))
    assert arrays["a_end"].tolist() == [6, 64 - 10 - 1] and arrays["b_end"].tolist() == [10, 64]
    assert arrays["label"].tolist() == [1, 0]


# --- determinism and processes -------------------------------------------------------------
def test_same_seed_same_file_and_another_seed_differs(tmp_path, corpora):
    first, _ = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1", name="a.pt")
    second, _ = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1", name="b.pt")
    third, _ = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1", "--seed", "8",
                     name="c.pt")
    assert digest(first) == digest(second) != digest(third)


def test_two_processes_are_reproducible_and_cover_the_same_documents(tmp_path, corpora):
    one, counts_one = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1", name="1.pt")
    two_a, counts_two = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1",
                              "--processes_num", "2", name="2a.pt")
    two_b, _ = build(tmp_path, corpora["doc"], "bert", "--dup_factor", "1",
                     "--processes_num", "2", name="2b.pt")
    assert digest(two_a) == digest(two_b)
    # Document-aligned split: nothing is dropped or cut, whatever the number of processes.
    assert counts_one["documents"] == counts_two["documents"]
    assert counts_one["tokens"] == counts_two["tokens"]
    assert counts_one["lines"] == counts_two["lines"]


@pytest.mark.parametrize("target,extra", [("lm", []), ("mlm", ["--dynamic_masking"])])
def test_deterministic_targets_give_identical_files_for_1_and_2_processes(tmp_path, corpora,
                                                                          target, extra):
    one, _ = build(tmp_path, corpora["line"], target, *extra, name="1.pt")
    two, _ = build(tmp_path, corpora["line"], target, *extra, "--processes_num", "2",
                   name="2.pt")
    arrays_one = open_dataset(one).batch(np.arange(read_header(one)["counts"]["instances"]))
    arrays_two = open_dataset(two).batch(np.arange(read_header(two)["counts"]["instances"]))
    for key in arrays_one:
        assert (arrays_one[key] == arrays_two[key]).all(), key


def test_span_masking_is_recorded_and_masks_runs(tmp_path, corpora):
    path, counts = build(tmp_path, corpora["line"], "mlm", "--span_masking", "--dup_factor", "1")
    header = read_header(path)
    assert header["span_masking"] and header["span_geo_prob"] == 0.2
    arrays = open_dataset(path).batch(np.arange(counts["instances"]))
    chosen = arrays["tgt_mlm"] > 0
    # Spans make masked neighbours far more common than the ~15% of token mode.
    neighbour = (chosen[:, 1:] & chosen[:, :-1]).sum() / chosen.sum()
    assert neighbour > 0.5


def test_trailing_blank_lines_and_more_processes_than_documents(tmp_path):
    # UER-py looped forever on a corpus ending with blank lines (bug 4) and dropped the last
    # document of each worker; empty parts must also be harmless.
    corpus = tmp_path / "tail.txt"
    corpus.write_text("第一句。\n第二句。\n\n第三句。\n\n\n\n", encoding="utf-8")
    _, counts = build(tmp_path, str(corpus), "bert", "--processes_num", "4", "--dup_factor", "1")
    assert counts["documents"] == 2 and counts["lines"] == 7
    _, counts = build(tmp_path, str(corpus), "bilm", "--processes_num", "3", name="b.pt")
    assert counts["instances"] == 3
