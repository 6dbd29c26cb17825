"""Fine-tuning building blocks without a model: TSV reading, encoding, padding, pooling, metrics."""
import pytest
import torch

from uer.errors import UerError
from uer.finetune.batching import Example, length_sorted_batches, pad_src_seg
from uer.finetune.encoding import PairEncoder, encode_pairs
from uer.finetune.metrics import (average_precision, confusion_matrix, mrr_and_map,
                                  precision_recall_f1, reciprocal_rank, report_classification)
from uer.finetune.pooling import pool
from uer.finetune.tsv import parse_label, read_tsv
from uer.vocab import Vocab


# --- TSV ------------------------------------------------------------------------------------
def test_columns_by_name_in_any_order(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("\ufefftext_a\textra\tlabel\nhello\tz\t1\n\nbye\ty\t0\n", encoding="utf-8")
    table = read_tsv(str(path), required=("label", "text_a"), optional=("text_b",))
    assert table.columns == {"label": 2, "text_a": 0}
    assert table.column("label") == ["1", "0"]
    assert [line for line, _ in table.rows] == [2, 4]


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("label\ttext_a\n", "no data rows"),
    ("label\ttext\n1\tx\n", "header has no 'text_a' column"),
    ("label\ttext_a\n1\tx\n0\ty\tz\n", "x.tsv:3: expected 2 tab-separated fields"),
])
def test_bad_tsv_files(tmp_path, content, message):
    path = tmp_path / "x.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UerError, match=message):
        read_tsv(str(path), required=("label", "text_a"))


def test_missing_file_and_bad_labels(tmp_path):
    with pytest.raises(UerError, match="nope.tsv: file not found"):
        read_tsv(str(tmp_path / "nope.tsv"))
    with pytest.raises(UerError, match="f.tsv:7: label 'pos' is not an integer"):
        parse_label("pos", "f.tsv", 7)
    with pytest.raises(UerError, match="beyond --labels_num 2"):
        parse_label("2", "f.tsv", 3, labels_num=2)
    assert parse_label("1", "f.tsv", 3, labels_num=2) == 1


# --- encoding -------------------------------------------------------------------------------
class CharTok:
    def __init__(self, vocab):
        self.vocab = vocab

    def tokenize(self, text):
        return list(text)

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, self.vocab.unk_id) for t in tokens]

    def encode(self, text):
        return self.convert_tokens_to_ids(self.tokenize(text))


@pytest.fixture
def small_vocab():
    return Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefgh"))


def test_single_and_pair_layout(small_vocab):
    enc = PairEncoder(CharTok(small_vocab), small_vocab, seq_length=16)
    ids, first = enc.encode("abc")
    assert ids == [2, 5, 6, 7, 3] and first == 5  # [CLS] a b c [SEP], all segment 1
    ids, first = enc.encode("ab", "cde")
    assert ids == [2, 5, 6, 3, 7, 8, 9, 3] and first == 4


def test_truncation_keeps_separators(small_vocab):
    enc = PairEncoder(CharTok(small_vocab), small_vocab, seq_length=8)
    ids, first = enc.encode("abcdefgh")
    assert len(ids) == 8 and ids[0] == 2 and ids[-1] == 3 and first == 8
    ids, first = enc.encode("abcdefgh", "ab")  # the longer text is cut first
    assert ids == [2, 5, 6, 7, 3, 5, 6, 3] and first == 5


def test_parallel_encoding_matches_serial(small_vocab):
    enc = PairEncoder(CharTok(small_vocab), small_vocab, seq_length=10)
    pairs = [("abcdefgh"[: i % 8 + 1], None if i % 3 else "gh") for i in range(12000)]
    assert encode_pairs(enc, pairs, processes=2) == [enc.encode(a, b) for a, b in pairs]


# --- batching and pooling -------------------------------------------------------------------
def test_pad_to_longest_in_batch():
    src, seg = pad_src_seg([Example([2, 5, 3], 3), Example([2, 5, 3, 6, 3], 3)])
    assert src.tolist() == [[2, 5, 3, 0, 0], [2, 5, 3, 6, 3]]
    assert seg.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 2, 2]]
    examples = [Example([1] * n, n) for n in (5, 1, 3, 2)]
    assert length_sorted_batches(examples, 2) == [[1, 3], [2, 0]]


def test_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [-5.0], [4.0]]])
    seg = torch.tensor([[1, 1, 0], [1, 2, 2]])
    assert pool(hidden, seg, "first").flatten().tolist() == [1.0, 2.0]
    assert pool(hidden, seg, "last").flatten().tolist() == [3.0, 4.0]
    assert pool(hidden, seg, "mean").flatten().tolist() == pytest.approx([2.0, 1 / 3])
    assert pool(hidden, seg, "max").flatten().tolist() == [3.0, 4.0]


# --- metrics --------------------------------------------------------------------------------
def test_confusion_is_pred_by_gold_and_never_divides_by_zero(capsys):
    pred, gold = [0, 0, 1, 0], [0, 1, 1, 0]
    matrix = confusion_matrix(pred, gold, 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]
    scores = precision_recall_f1(matrix)
    assert scores[0] == pytest.approx((2 / 3, 1.0, 0.8))
    assert scores[1] == pytest.approx((1.0, 0.5, 2 / 3))
    assert scores[2] == (0.0, 0.0, 0.0)  # label 2 never predicted nor gold
    accuracy = report_classification(pred, gold, 3, detailed=True)
    assert accuracy == 0.75
    out = capsys.readouterr().out
    assert "Acc. (Correct/Total): 0.7500 (3/4) \n" in out
    assert "Label 2: 0.000, 0.000, 0.000" in out and "Confusion matrix:" in out
    assert report_classification([], [], 2) == 0.0


def test_ranking_metrics_by_hand():
    # Ranked: 0.9 (0), 0.5 (1), 0.1 (1): RR = 1/2, AP = (1/2 + 2/3) / 2.
    assert reciprocal_rank([0.1, 0.9, 0.5], [1, 0, 1]) == 0.5
    assert average_precision([0.1, 0.9, 0.5], [1, 0, 1]) == pytest.approx((0.5 + 2 / 3) / 2)
    # Ties never flatter: a correct candidate tied with a wrong one ranks after it.
    assert reciprocal_rank([0.3, 0.3], [1, 0]) == 0.5
    assert average_precision([0.3, 0.3, 0.3], [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert reciprocal_rank([0.2, 0.1], [0, 0]) is None
    groups = [([0.1, 0.9, 0.5], [1, 0, 1]), ([0.8, 0.8], [1, 0]), ([1.0], [0]), ([0.7, 0.2], [1, 0])]
    mrr, map_, counted = mrr_and_map(groups)
    assert counted == 3  # the question without a correct answer is skipped, each counts once
    assert mrr == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert map_ == pytest.approx(((0.5 + 2 / 3) / 2 + 0.5 + 1.0) / 3)
    assert mrr_and_map([]) == (0.0, 0.0, 0)
