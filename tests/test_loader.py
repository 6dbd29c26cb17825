"""PretrainLoader: batch layout per target, rank shares, shuffling, dynamic masking, resume,
and check_dataset's refusals."""
import itertools

import numpy as np
import pytest
import torch

import preprocess
from tests.conftest import shared_path
from uer.data.loader import PretrainLoader, build_pretrain_loader, check_dataset
from uer.errors import UerError
from uer.vocab import Vocab


@pytest.fixture(scope="module")
def zh_vocab():
    return Vocab.from_file(shared_path("vocab", "google_zh_vocab.txt"))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Small datasets of every target, built once from real corpus samples."""
    folder = tmp_path_factory.mktemp("loader")

    def sample(name, count, out):
        with open(shared_path("corpora", name), encoding="utf-8") as handle:
            lines = [line[:400] for line in itertools.islice(handle, count)]
        path = folder / out
        path.write_text("".join(l if l.endswith("\n") else l + "\n" for l in lines),
                        encoding="utf-8")
        return str(path)

    doc = sample("CLUECorpusSmall_bert_sampled.txt", 200, "doc.txt")
    line = sample("CLUECorpusSmall_sampled.txt", 60, "line.txt")
    cls = sample("book_review_cls.txt", 100, "cls.txt")
    built = {}
    for name, corpus, extra in [
        ("bert", doc, ["--target", "bert", "--dup_factor", "1"]),
        ("albert", doc, ["--target", "albert", "--dup_factor", "1"]),
        ("mlm", line, ["--target", "mlm", "--dup_factor", "1"]),
        ("mlm_dynamic", line, ["--target", "mlm", "--dynamic_masking"]),
        ("bert_dynamic", doc, ["--target", "bert", "--dynamic_masking"]),
        ("lm", line, ["--target", "lm"]),
        ("bilm", line, ["--target", "bilm"]),
        ("cls", cls, ["--target", "cls"]),
    ]:
        path = str(folder / f"{name}.pt")
        preprocess.main(["--corpus_path", corpus, "--vocab_path",
                         shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", path,
                         "--seq_length", "64", *extra])
        built[name] = path
    return built


@pytest.mark.parametrize("name,arity", [("bert", 4), ("albert", 4), ("mlm", 3),
                                        ("mlm_dynamic", 3), ("lm", 3), ("bilm", 4), ("cls", 3)])
def test_batch_layout(datasets, zh_vocab, name, arity):
    loader = PretrainLoader(datasets[name], batch_size=8, vocab=zh_vocab)
    batch = next(iter(loader))
    assert len(batch) == arity
    assert all(t.dtype == torch.int64 for t in batch)
    src, seg = batch[0], batch[-1]
    assert src.shape == (8, 64) and seg.shape == (8, 64)
    assert set(seg.unique().tolist()) <= {0, 1, 2}
    assert ((seg > 0) == (src > 0)).all() or name == "mlm"  # padding <=> seg 0
    if name in ("bert", "albert"):
        tgt, label = batch[1], batch[2]
        assert tgt.shape == (8, 64) and label.shape == (8,)
        assert (seg == 2).any(dim=1).all()
        assert (tgt[tgt > 0] != zh_vocab.mask_id).all()
    if name == "cls":
        assert batch[1].shape == (8,) and set(batch[1].tolist()) <= {0, 1}
    if name == "lm":
        tgt = batch[1]
        assert (tgt[:, :-1][seg[:, 1:] > 0] == src[:, 1:][seg[:, 1:] > 0]).all()


def unique_lm_dataset(tmp_path, lines=50):
    corpus = tmp_path / "unique.txt"
    corpus.write_text("".join(f"第{i}行\n" for i in range(lines)), encoding="utf-8")
    path = str(tmp_path / "unique.pt")
    preprocess.main(["--corpus_path", str(corpus), "--vocab_path",
                     shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", path,
                     "--target", "lm", "--seq_length", "16"])
    return path


def test_rank_shares_are_disjoint_and_cover_the_dataset(tmp_path):
    path = unique_lm_dataset(tmp_path)  # one distinct instance per line
    seen = []
    for rank in range(3):
        loader = PretrainLoader(path, batch_size=5, rank=rank, world_size=3,
                                instances_buffer_size=7)
        rows = []
        for batch in iter(loader):
            if loader.epoch > 0 or len(rows) >= loader.num_instances:
                break
            rows.extend(map(tuple, batch[0].tolist()))
        assert len(rows) == loader.num_instances == len(set(rows))
        seen.append(set(rows))
    assert sum(len(rows) for rows in seen) == 50
    assert len(seen[0] | seen[1] | seen[2]) == 50


def test_epochs_reshuffle_and_cover_each_instance_once(datasets):
    loader = PretrainLoader(datasets["lm"], batch_size=4, instances_buffer_size=10, seed=3)
    n = loader.num_instances
    batches = iter(loader)
    epochs = {0: [], 1: []}
    while loader.epoch < 2:
        batch = next(batches)
        epochs[loader.epoch].extend(map(tuple, batch[0].tolist()))
        if loader.epoch == 1 and len(epochs[1]) >= n:
            break
    assert len(epochs[0]) == n and len(epochs[1]) == n
    assert sorted(epochs[0]) == sorted(epochs[1])
    assert epochs[0] != epochs[1]


def test_dynamic_masking_differs_between_epochs_and_keeps_rules(datasets, zh_vocab):
    loader = PretrainLoader(datasets["mlm_dynamic"], batch_size=1000, vocab=zh_vocab)
    assert loader.dynamic_masking and loader.num_instances < 1000
    batches = iter(loader)
    src1, tgt1, seg1 = next(batches)
    src2, tgt2, seg2 = next(batches)  # one batch per epoch: the whole dataset, reshuffled
    assert loader.epoch == 1
    original1 = torch.where(tgt1 > 0, tgt1, src1)
    original2 = torch.where(tgt2 > 0, tgt2, src2)
    order1 = sorted(range(len(src1)), key=lambda i: original1[i].tolist())
    order2 = sorted(range(len(src2)), key=lambda i: original2[i].tolist())
    assert (original1[order1] == original2[order2]).all()  # same instances
    assert not (tgt1[order1] == tgt2[order2]).all()  # different masks
    rate = (tgt1 > 0).sum().item() / (seg1 > 0).sum().item()
    assert abs(rate - 0.15) < 0.02
    specials = torch.tensor([zh_vocab.cls_id, zh_vocab.sep_id])
    assert not torch.isin(original1[tgt1 > 0], specials).any()


def test_dynamic_masking_needs_a_vocab_and_span_options_apply(datasets, zh_vocab):
    with pytest.raises(UerError, match="vocabulary"):
        PretrainLoader(datasets["bert_dynamic"], batch_size=4)
    loader = PretrainLoader(datasets["bert_dynamic"], batch_size=200, vocab=zh_vocab,
                            span_masking=True)
    src, tgt, is_next, seg = next(iter(loader))
    chosen = tgt > 0
    assert (chosen[:, 1:] & chosen[:, :-1]).sum() > 0.5 * chosen.sum()


def test_static_masks_are_fixed_across_epochs(datasets, zh_vocab):
    loader = PretrainLoader(datasets["mlm"], batch_size=1000)
    batches = iter(loader)
    first, second = next(batches), next(batches)
    key = lambda batch: sorted(zip(map(tuple, batch[0].tolist()), map(tuple, batch[1].tolist())))
    assert key(first) == key(second)


def test_batches_without_masked_tokens_are_skipped(tmp_path, zh_vocab):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("\n" * 5 + "今天天气很好\n", encoding="utf-8")  # empty docs: [CLS][SEP]
    path = str(tmp_path / "d.pt")
    preprocess.main(["--corpus_path", str(corpus), "--vocab_path",
                     shared_path("vocab", "google_zh_vocab.txt"), "--dataset_path", path,
                     "--target", "mlm", "--dynamic_masking", "--seq_length", "16"])
    loader = PretrainLoader(path, batch_size=1, vocab=zh_vocab)
    batches = list(itertools.islice(iter(loader), 3))
    assert all((tgt > 0).any() for _, tgt, _ in batches)
    assert loader.epoch >= 2  # five of six instances per epoch were skipped


def test_resume_continues_with_the_same_batches(datasets, zh_vocab):
    loader = PretrainLoader(datasets["bert_dynamic"], batch_size=4, vocab=zh_vocab,
                            instances_buffer_size=16)
    stream = iter(loader)
    for _ in range(5):
        next(stream)
    state = loader.state_dict()
    expected = [next(stream) for _ in range(3)]
    resumed = PretrainLoader(datasets["bert_dynamic"], batch_size=4, vocab=zh_vocab,
                             instances_buffer_size=16)
    resumed.load_state_dict(state)
    got = [b for b in itertools.islice(iter(resumed), 3)]
    for a, b in zip(expected, got):
        assert all((x == y).all() for x, y in zip(a, b))


def test_check_dataset_refuses_other_target_and_vocab(datasets, zh_vocab, tmp_path):
    header = check_dataset(datasets["bert"], "bert", zh_vocab)
    assert header["target"] == "bert"
    with pytest.raises(UerError, match="was built for target bert, not mlm"):
        check_dataset(datasets["bert"], "mlm", zh_vocab)
    other = Vocab(zh_vocab.i2w[:-1])
    with pytest.raises(UerError, match="different vocabulary"):
        check_dataset(datasets["bert"], "bert", other)
    with pytest.raises(UerError, match="not found"):
        check_dataset(str(tmp_path / "missing.pt"), "bert", zh_vocab)


def test_too_many_ranks_and_build_from_args(datasets, zh_vocab):
    import argparse

    with pytest.raises(UerError, match="too few"):
        PretrainLoader(datasets["cls"], 4, rank=0, world_size=10 ** 6)
    args = argparse.Namespace(dataset_path=datasets["cls"], target="cls", vocab=zh_vocab,
                              batch_size=3, instances_buffer_size=100, seed=1,
                              span_masking=False, span_geo_prob=0.2, span_max_length=10)
    loader = build_pretrain_loader(args, rank=1, world_size=2)
    assert loader.num_instances == 50
    args.target = "bert"
    with pytest.raises(UerError, match="not bert"):
        build_pretrain_loader(args)


def test_group_by_length_batches_similar_lengths_and_still_covers_each_instance_once(datasets):
    plain = PretrainLoader(datasets["lm"], batch_size=8, seed=3)
    grouped = PretrainLoader(datasets["lm"], batch_size=8, seed=3, group_by_length=True)
    lengths = np.asarray(grouped.dataset.arrays["n_real"], dtype=np.int64)

    def epoch(loader):
        return list(loader._epoch_batches(0))

    def spread(batches):  # mean (longest - shortest) real length within a batch
        return np.mean([lengths[b].max() - lengths[b].min() for b in batches])

    grouped_batches = epoch(grouped)
    assert sorted(np.concatenate(grouped_batches).tolist()) == list(range(len(lengths)))
    assert spread(grouped_batches) < spread(epoch(plain)) / 3
    # The batch order is shuffled (not shortest first) and reproducible.
    maxima = [lengths[b].max() for b in grouped_batches]
    assert maxima != sorted(maxima)
    assert all(np.array_equal(a, b) for a, b in zip(grouped_batches, epoch(grouped)))
