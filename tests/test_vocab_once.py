"""A fine-tuning run reads and validates its vocabulary file once (the tokenizer gets the
vocabulary that option resolution loaded)."""

from _finetune_data import easy_rows, write_config, write_tsv

import run_classifier
from uer.vocab import Vocab


def test_run_classifier_reads_the_vocabulary_once(tmp_path, zh_vocab_path, monkeypatch, capsys):
    reads = []
    original = Vocab.from_file.__func__

    def counting_from_file(cls, path, *args, **kwargs):
        reads.append(path)
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(Vocab, "from_file", classmethod(counting_from_file))
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], easy_rows(32, seed=1))
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], easy_rows(16, seed=2))
    run_classifier.main(["--train_path", train, "--dev_path", dev, "--vocab_path", zh_vocab_path,
                         "--config_path", write_config(tmp_path / "tiny.json"),
                         "--output_model_path", str(tmp_path / "m.bin"), "--batch_size", "16",
                         "--seq_length", "16", "--epochs_num", "1"])
    assert reads == [zh_vocab_path]
    assert (tmp_path / "m.bin").exists()
