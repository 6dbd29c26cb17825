import subprocess
import sys

from tests.conftest import REPO, shared_path
from uer.vocab import Vocab

SCRIPT = str(REPO / "scripts" / "build_vocab.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=REPO)


def test_counts_order_and_min_count(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("b a b\nc b a\n\nd\n", encoding="utf-8")
    out = tmp_path / "v.txt"
    result = run("--corpus_path", str(corpus), "--vocab_path", str(out), "--tokenizer", "space",
                 "--min_count", "2")
    assert result.returncode == 0, result.stderr
    vocab = Vocab.from_file(str(out))  # the reserved tokens make it a valid vocabulary
    assert vocab.i2w[0] == "[PAD]" and vocab.i2w[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab.i2w[104:] == ["b", "a"]          # by count; c and d dropped under min_count 2


def test_parallel_workers_give_the_same_vocab(tmp_path):
    corpus = shared_path("corpora", "CLUECorpusSmall_sampled.txt")
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"v{workers}.txt"
        result = run("--corpus_path", corpus, "--vocab_path", str(out), "--tokenizer", "char",
                     "--workers_num", workers)
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) > 3000


def test_bert_tokenizer_counts_words_and_punctuation(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("Hello, world! 中文\nhello again.\n", encoding="utf-8")
    out = tmp_path / "v.txt"
    assert run("--corpus_path", str(corpus), "--vocab_path", str(out), "--tokenizer", "bert").returncode == 0
    tokens = Vocab.from_file(str(out)).i2w[104:]
    assert tokens[0] == "hello" and set(tokens) == {"hello", ",", "world", "!", "中", "文", "again", "."}


def test_missing_corpus_is_one_line_error(tmp_path):
    out = tmp_path / "v.txt"
    result = run("--corpus_path", str(tmp_path / "missing.txt"), "--vocab_path", str(out))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.txt'}: corpus not found (--corpus_path)"]
    assert not out.exists()
