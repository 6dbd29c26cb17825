import csv
import inspect
import types

import pytest

from tests.conftest import shared_path
from uer.errors import UerError
from uer.tokenizers import str2tokenizer

TRICKY_TEXTS = [
    "Héllo, WORLD! naïve café résumé — “quotes” and ‘single’…",
    "ΑΣ ΟΔΥΣΣΕΥΣ σοφός. İstanbul ǅemal ﬁne ﬀ",
    "tab\tnew\nline\r\x0bvt\x0cff zero\u200bwidth soft\u00adhyphen nul\x00end \ufffdrep",
    "北京是中国的首都。東京 한국어 日本語のテキスト ＡＢＣ１２３ 〜全角〜",
    "[CLS] keep [SEP] special [MASK] tokens [UNK] but [cls] lower [PAD]",
    "x" * 150 + " " + "unaffable" * 12,
    "emoji 😀👍🏽 math ∑∫√ arrows →← e\u0301 combining a\u0308",
    "2019,2020 numbers 3.14 1,000,000 $5 50% @user #tag http://example.com/a?b=c&d=e",
    "\u2028line\u2029para\u3000ideographic\u00a0nbsp\u2003emspace",
    "",
    "   ",
]


def english_texts():
    """Real English prose: the docstrings of the Python standard library modules."""
    import argparse, collections, csv as csv_mod, json, logging, os, re, subprocess, textwrap
    texts = []
    for module in (argparse, collections, csv_mod, json, logging, os, re, subprocess, textwrap):
        for _, obj in inspect.getmembers(module):
            doc = inspect.getdoc(obj)
            if doc:
                texts.extend(line for line in doc.splitlines() if line.strip())
    return texts[:3000]


def make(name, vocab_path=None, spm_model_path=None):
    return str2tokenizer[name](types.SimpleNamespace(vocab_path=vocab_path, spm_model_path=spm_model_path))


def hf_tokenizers(vocab_path):
    transformers = pytest.importorskip("transformers")
    try:
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as Slow
    except ImportError:  # transformers < 5: BertTokenizer is the Python one
        Slow = transformers.BertTokenizer
    fast = transformers.BertTokenizerFast(vocab_path, do_lower_case=True)
    return Slow(vocab_path, do_lower_case=True), fast


def book_review_texts():
    with open(shared_path("datasets", "book_review", "train.tsv"), encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows)
        column = header.index("text_a")
        return [row[column] for row in rows]


def assert_same(ours, reference, texts):
    mismatches = [t for t in texts if ours.tokenize(t) != reference.tokenize(t)]
    assert not mismatches, f"{len(mismatches)} texts differ, first: {mismatches[0][:120]!r}"


def test_bert_tokenizer_equals_huggingface_on_every_book_review_text(zh_vocab_path):
    ours = make("bert", zh_vocab_path)
    slow, fast = hf_tokenizers(zh_vocab_path)
    texts = book_review_texts()
    assert len(texts) == 20000
    assert_same(ours, slow, texts)
    assert_same(ours, fast, texts[:5000])


def test_bert_tokenizer_equals_huggingface_on_english(en_vocab_path):
    ours = make("bert", en_vocab_path)
    slow, _ = hf_tokenizers(en_vocab_path)
    texts = english_texts()
    assert len(texts) > 500
    assert_same(ours, slow, texts)


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_bert_tokenizer_equals_huggingface_on_tricky_text(text, zh_vocab_path, en_vocab_path):
    for vocab_path in (zh_vocab_path, en_vocab_path):
        ours = make("bert", vocab_path)
        slow, _ = hf_tokenizers(vocab_path)
        assert ours.tokenize(text) == slow.tokenize(text)


def test_bert_tokenizer_rules(en_vocab_path):
    tok = make("bert", en_vocab_path)
    assert tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert tok.tokenize("Café!") == ["cafe", "!"]
    assert tok.tokenize("a" * 101) == ["[UNK]"]          # the 100-characters-per-word rule
    assert tok.tokenize("x\u0000y\u200bz") == tok.tokenize("xyz")   # control characters removed
    assert tok.tokenize("中文") == ["中", "文"]           # CJK characters split


def test_convert_round_trip(zh_vocab_path):
    tok = make("bert", zh_vocab_path)
    tokens = tok.tokenize("我爱北京天安门")
    ids = tok.convert_tokens_to_ids(tokens)
    assert ids[0] == tok.vocab["我"]
    assert tok.convert_ids_to_tokens(ids) == tokens
    assert tok.convert_tokens_to_ids(["not-a-token"]) == [tok.vocab["[UNK]"]]


def test_char_tokenizer_keeps_inner_spaces(zh_vocab_path):
    tok = make("char", zh_vocab_path)
    assert tok.tokenize(" 中 文\u2603 ") == ["中", " " if " " in tok.vocab else "[UNK]", "文", "[UNK]"]


def test_space_tokenizer_splits_on_single_spaces(zh_vocab_path):
    tok = make("space", zh_vocab_path)
    assert tok.tokenize("中  文 zzzq") == ["中", "[UNK]", "文", "[UNK]"]


def test_spm_mode(spm_model_path):
    tok = make("bert", spm_model_path=spm_model_path)
    pieces = tok.tokenize("北京是中国的首都 2019,")
    assert pieces[-2:] == ["2019", ","]                  # digits-comma piece split (XLNet rule)
    assert "".join(pieces).replace("\u2581", "").startswith("北京是中国的首都")
    ids = tok.convert_tokens_to_ids(pieces)
    assert ids == [tok.sp_model.PieceToId(p) for p in pieces]
    char = make("char", spm_model_path=spm_model_path)
    assert char.tokenize("北京") == ["北", "京"] or "[UNK]" in char.tokenize("北京")
    assert tok.vocab["[PAD]"] == 0


def test_unknown_tokenizer_lists_known_names():
    with pytest.raises(UerError, match="known: bert, char, space"):
        str2tokenizer["wordpiece"]


@pytest.mark.parametrize("text", TRICKY_TEXTS + ["北京[SEP]上海", "plain text 中文"])
def test_encode_equals_tokenize_then_convert(text, zh_vocab_path, spm_model_path):
    for tok in (make("bert", zh_vocab_path), make("bert", spm_model_path=spm_model_path),
                make("char", zh_vocab_path), make("space", zh_vocab_path)):
        assert tok.encode(text) == tok.convert_tokens_to_ids(tok.tokenize(text))
        assert tok.encode(text) == tok.convert_tokens_to_ids(tok.tokenize(text))  # cached path
