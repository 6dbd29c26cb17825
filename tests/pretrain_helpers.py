"""Shared pieces of the pre-training tests: a tiny model config, Python-API arguments and
in-test loaders with fully known batches (module level so spawned workers can unpickle them)."""
import itertools
import json
import os
import socket

import torch

import pretrain
from uer.vocab import Vocab

TINY_CONFIG = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "hidden_act": "gelu",
               "heads_num": 2, "layers_num": 2, "dropout": 0.1}
SMALL_VOCAB = Vocab(["[PAD]"] + [f"[unused{i}]" for i in range(1, 5)]
                    + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(51)])
FIRST_WORD = SMALL_VOCAB.w2i["w0"]


def write_config(folder, **overrides):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tiny_config.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dict(TINY_CONFIG, **overrides), handle)
    return path


def api_args(folder, argv=(), vocab=SMALL_VOCAB, **config):
    """pretrain.py's options for a Python-API run (no vocabulary or dataset file needed)."""
    parser = pretrain.build_parser()
    args = parser.parse_args(["--output_model_path", os.path.join(folder, "model.bin"),
                              *map(str, argv)])
    for key, value in dict(TINY_CONFIG, **config).items():
        setattr(args, key, value)
    args.vocab = vocab
    return args


def fixed_batches(count, batch_size, length=12, seed=0):
    """``count`` bert-target batches; every row masks exactly two positions, so the masked-token
    count of any half of a batch is half of the batch's (losses then split evenly over ranks)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        src = torch.randint(FIRST_WORD, len(SMALL_VOCAB), (batch_size, length), generator=gen)
        src[:, 0] = SMALL_VOCAB.cls_id
        seg = torch.ones_like(src)
        seg[:, length // 2:] = 2
        tgt = torch.zeros_like(src)
        for column in (2, 5):
            tgt[:, column] = src[:, column]
            src[:, column] = SMALL_VOCAB.mask_id
        is_next = torch.randint(0, 2, (batch_size,), generator=gen)
        batches.append((src, tgt, is_next, seg))
    return batches


class SlicedLoader:
    """Rank ``rank`` of ``world_size`` sees its contiguous slice of every fixed batch."""

    def __init__(self, batches, rank, world_size, fail_after=None):
        self.batches, self.rank, self.world_size = batches, rank, world_size
        self.position = 0  # batches handed out so far (resume support)
        self.fail_after = fail_after

    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]

    def __iter__(self):
        while True:
            if self.fail_after is not None and self.position >= self.fail_after:
                raise RuntimeError("simulated crash")
            batch = self.batches[self.position % len(self.batches)]
            self.position += 1
            size = batch[0].size(0) // self.world_size
            yield tuple(t[self.rank * size:(self.rank + 1) * size] for t in batch)


def fixed_loader_factory(args, rank, world_size):
    total = args.batch_size * world_size
    return SlicedLoader(fixed_batches(4, total), rank, world_size)


def crashing_loader_factory(args, rank, world_size):
    """Like fixed_loader_factory, but the 5th batch never comes: the run dies at step 5."""
    total = args.batch_size * world_size
    return SlicedLoader(fixed_batches(4, total), rank, world_size, fail_after=4)


def accumulating_loader_factory(args, rank, world_size):
    """Micro-batches of size batch_size cut from batches of batch_size * accumulation_steps."""
    whole = fixed_batches(4, args.batch_size * args.accumulation_steps)
    pieces = []
    for batch in whole:
        for part in range(args.accumulation_steps):
            size = args.batch_size
            pieces.append(tuple(t[part * size:(part + 1) * size] for t in batch))
    return SlicedLoader(pieces, 0, 1)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def state_of(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_state(a, b, atol=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=atol, rtol=1e-4), key


# --- real datasets built with preprocess.py from a slice of the shared corpora -------------
_DATASETS = {}
_DATA_DIR = []


def _data_dir():
    if not _DATA_DIR:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="uer-pretrain-tests-")
        atexit.register(shutil.rmtree, folder, True)
        _DATA_DIR.append(folder)
    return _DATA_DIR[0]


def corpus_slice(name, lines):
    """The first ``lines`` lines of a shared corpus, as a file in the test data folder."""
    from conftest import shared_path

    source = shared_path("corpora", name)
    path = os.path.join(_data_dir(), f"{name}.{lines}")
    if not os.path.exists(path):
        with open(source, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
            out.writelines(itertools.islice(src, lines))
    return path


def tiny_dataset(vocab_path, target, *extra, corpus="CLUECorpusSmall_bert_sampled.txt",
                 lines=300, seq_length=32):
    """Path of a dataset built (once per test session) by preprocess.py."""
    import preprocess

    key = (vocab_path, target, extra, corpus, lines, seq_length)
    if key not in _DATASETS:
        path = os.path.join(_data_dir(), f"{target}-{len(_DATASETS)}.pt")
        preprocess.main(["--corpus_path", corpus_slice(corpus, lines), "--vocab_path", vocab_path,
                         "--dataset_path", path, "--target", target, "--seq_length",
                         str(seq_length), "--dup_factor", "1", *extra])
        _DATASETS[key] = path
    return _DATASETS[key]
