import pytest

from uer.errors import UerError
from uer.registry import Registry
from uer.vocab import Vocab, load_vocab


def write(tmp_path, lines, name="vocab.txt"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


GOOD = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]


def test_ids_are_line_numbers(tmp_path):
    vocab = Vocab.from_file(write(tmp_path, GOOD + ["c extra-field", ""]))
    assert vocab.w2i["a"] == 5 and vocab.i2w[7] == "c"
    assert vocab.w2i[" "] == 8            # a blank line is the token " "
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (0, 1, 2, 3, 4)
    assert len(vocab) == 9


@pytest.mark.parametrize("missing", ["[CLS]", "[SEP]", "[MASK]", "[UNK]"])
def test_missing_special_token_is_refused_with_file_and_token(tmp_path, missing):
    path = write(tmp_path, [t for t in GOOD if t != missing])
    with pytest.raises(UerError) as err:
        Vocab.from_file(path)
    assert path in str(err.value) and missing in str(err.value)


def test_pad_must_be_id_zero(tmp_path):
    path = write(tmp_path, ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(UerError, match=r"\[PAD\].*id 0"):
        Vocab.from_file(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UerError, match="not found"):
        Vocab.from_file(str(tmp_path / "nope.txt"))
    with pytest.raises(UerError, match="empty"):
        Vocab.from_file(write(tmp_path, [], "empty.txt"))


def test_checksum_tracks_content(tmp_path):
    a = Vocab.from_file(write(tmp_path, GOOD, "a.txt"))
    b = Vocab.from_file(write(tmp_path, GOOD[:-1] + ["z"], "b.txt"))
    assert a.checksum != b.checksum and a.checksum == Vocab(GOOD).checksum


def test_google_vocab_and_spm(zh_vocab_path, spm_model_path):
    import types
    vocab = load_vocab(types.SimpleNamespace(vocab_path=zh_vocab_path, spm_model_path=None))
    assert len(vocab) == 21128 and vocab.cls_id == 101 and vocab.mask_id == 103
    spm_vocab = load_vocab(types.SimpleNamespace(vocab_path=zh_vocab_path, spm_model_path=spm_model_path))
    assert len(spm_vocab) == spm_vocab.spm.GetPieceSize() and spm_vocab.pad_id == 0
    assert spm_vocab.unk_id == spm_vocab.spm.unk_id()


def test_registry_rejects_duplicates_and_names_known_entries():
    registry = Registry("widget")

    @registry.register("a")
    class A:
        pass

    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(A)
    assert registry["a"] is A
    with pytest.raises(UerError, match="unknown widget 'b'; known: a"):
        registry["b"]
