"""preprocess.py refuses bad input with one line naming the file/line/option, exit code 1, and
leaves nothing at --dataset_path (nor temporary files beside it)."""
import os
import subprocess
import sys

import pytest

import preprocess
from tests.conftest import REPO, shared_path


def run_main(tmp_path, corpus, *extra, vocab=None):
    output = tmp_path / "out" / "dataset.pt"
    output.parent.mkdir(exist_ok=True)
    vocab = vocab or shared_path("vocab", "google_zh_vocab.txt")
    argv = ["--corpus_path", str(corpus), "--vocab_path", vocab, "--dataset_path", str(output),
            *extra]
    return argv, output


def expect_error(capsys, tmp_path, corpus, *extra, vocab=None):
    argv, output = run_main(tmp_path, corpus, *extra, vocab=vocab)
    with pytest.raises(SystemExit) as info:
        preprocess.main(argv)
    assert info.value.code == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ")
    # Nothing at the output path, no temporary files left in its folder.
    assert os.listdir(output.parent) == []
    return message


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_missing_corpus(capsys, tmp_path):
    message = expect_error(capsys, tmp_path, tmp_path / "nope.txt")
    assert "nope.txt" in message and "not found" in message


def test_missing_vocab(capsys, tmp_path):
    corpus = write(tmp_path, "c.txt", "你好\n")
    message = expect_error(capsys, tmp_path, corpus, vocab=str(tmp_path / "no_vocab.txt"))
    assert "no_vocab.txt" in message


def test_empty_corpus(capsys, tmp_path):
    message = expect_error(capsys, tmp_path, write(tmp_path, "empty.txt", ""))
    assert "empty.txt" in message and "empty" in message


def test_blank_only_corpus_builds_nothing(capsys, tmp_path):
    message = expect_error(capsys, tmp_path, write(tmp_path, "blank.txt", "\n\n  \n"))
    assert "blank.txt" in message and "no instances" in message


def test_cls_line_without_tab_names_file_and_line(capsys, tmp_path):
    corpus = write(tmp_path, "cls.txt", "1\tgood\n0\tbad\nno tab here\n")
    message = expect_error(capsys, tmp_path, corpus, "--target", "cls")
    assert "cls.txt:3:" in message and "tab" in message


def test_cls_non_integer_label(capsys, tmp_path):
    corpus = write(tmp_path, "cls.txt", "1\tgood\npositive\tnice\n")
    message = expect_error(capsys, tmp_path, corpus, "--target", "cls")
    assert "cls.txt:2:" in message and "'positive'" in message


def test_undecodable_bytes_report_file_and_line(capsys, tmp_path):
    corpus = write(tmp_path, "bad.txt", b"\xe4\xbd\xa0\xe5\xa5\xbd\n\n\xff\xfe broken\nok\n")
    message = expect_error(capsys, tmp_path, corpus, "--target", "mlm")
    assert "bad.txt:3:" in message and "UTF-8" in message


def test_undecodable_bytes_in_the_second_part_of_two(capsys, tmp_path):
    lines = ["第%d行的文本内容。\n" % i for i in range(400)]
    data = "".join(lines).encode("utf-8") + b"\xff\n" + "结束\n".encode("utf-8")
    corpus = write(tmp_path, "bad2.txt", data)
    message = expect_error(capsys, tmp_path, corpus, "--target", "lm", "--processes_num", "2")
    assert "bad2.txt:401:" in message


@pytest.mark.parametrize("target,length", [("bert", 4), ("albert", 3), ("mlm", 1), ("lm", 513)])
def test_seq_length_out_of_range_for_target(capsys, tmp_path, target, length):
    corpus = write(tmp_path, "c.txt", "你好\n")
    message = expect_error(capsys, tmp_path, corpus, "--target", target, "--seq_length",
                           str(length))
    assert "--seq_length" in message and target in message


def test_unknown_target_and_tokenizer(capsys, tmp_path):
    corpus = write(tmp_path, "c.txt", "你好\n")
    message = expect_error(capsys, tmp_path, corpus, "--target", "gpt9")
    assert "--target" in message and "gpt9" in message
    message = expect_error(capsys, tmp_path, corpus, "--tokenizer", "word")
    assert "--tokenizer" in message and "word" in message


def test_missing_output_folder(capsys, tmp_path):
    corpus = write(tmp_path, "c.txt", "你好\n")
    argv = ["--corpus_path", str(corpus), "--vocab_path",
            shared_path("vocab", "google_zh_vocab.txt"),
            "--dataset_path", str(tmp_path / "no_folder" / "d.pt")]
    with pytest.raises(SystemExit):
        preprocess.main(argv)
    assert "no_folder" in capsys.readouterr().err


def test_failed_rebuild_keeps_the_previous_dataset(capsys, tmp_path):
    good = write(tmp_path, "good.txt", "1\tgood\n")
    argv, output = run_main(tmp_path, good, "--target", "cls")
    preprocess.main(argv)
    before = output.read_bytes()
    bad = write(tmp_path, "bad.txt", "1\tgood\nnope\n")
    argv, _ = run_main(tmp_path, bad, "--target", "cls")
    with pytest.raises(SystemExit):
        preprocess.main(argv)
    assert output.read_bytes() == before
    assert os.listdir(output.parent) == ["dataset.pt"]


def test_command_line_error_is_one_line_exit_1(tmp_path):
    corpus = write(tmp_path, "cls.txt", "1\tgood\nbad line\n")
    output = tmp_path / "d.pt"
    result = subprocess.run(
        [sys.executable, "preprocess.py", "--corpus_path", str(corpus), "--vocab_path",
         shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", str(output),
         "--target", "cls", "--processes_num", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cls.txt:2:" in errors[0]
    assert "Traceback" not in result.stderr
    assert not output.exists() and os.listdir(tmp_path) == ["cls.txt"]


def test_command_line_success_prints_summary(tmp_path):
    corpus = write(tmp_path, "c.txt", "今天天气很好。\n我们去公园。\n")
    output = tmp_path / "d.pt"
    result = subprocess.run(
        [sys.executable, "preprocess.py", "--corpus_path", str(corpus), "--vocab_path",
         shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", str(output),
         "--target", "lm"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 documents, 2 instances" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["c.txt", "d.pt"]
