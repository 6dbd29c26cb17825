"""Pre-training loader: reads a dataset file written by preprocess.py and yields batches.

API (used by uer/trainer.py and pretrain.py)
--------------------------------------------
``check_dataset(path, target, vocab) -> dict``
    Validate a dataset against the pre-training options before building the model. Returns the
    JSON header. Raises ``UerError`` with one line:
    "<path> was built for target X, not Y" or
    "<path> was built with a different vocabulary (size A, checksum a; now size B, checksum b)",
    or "<path>: not a UER dataset file" for anything else.

``PretrainLoader(dataset_path, batch_size, rank=0, world_size=1, instances_buffer_size=25600,
                 seed=7, vocab=None, span_masking=False, span_geo_prob=0.2, span_max_length=10)``
    ``iter(loader)`` is an endless generator of tuples of torch int64 tensors laid out as the
    target class declares in ``batch_fields`` (uer/targets/common.py); for the built-in targets
    that is UER-py's order:

    ========== ================================================================
    target     batch
    ========== ================================================================
    bert       (src [B,L], tgt_mlm [B,L], is_next [B], seg [B,L])
    albert     (src [B,L], tgt_mlm [B,L], is_next [B], seg [B,L])   is_next = wrong order
    mlm        (src [B,L], tgt [B,L], seg [B,L])
    lm         (src [B,L], tgt [B,L], seg [B,L])
    bilm       (src [B,L], tgt_fwd [B,L], tgt_bwd [B,L], seg [B,L])
    cls        (src [B,L], tgt [B], seg [B,L])
    ========== ================================================================

    ``tgt_mlm`` holds the original id at masked positions and 0 elsewhere; bert's ``is_next`` is
    1 when B is the random (not the actual) next segment, as in UER-py. ``seg`` is 1 for the
    first segment (with [CLS] and its [SEP]), 2 for the second, 0 for padding.

    - Rank share: contiguous shards. Instance k (0-based, file order) belongs to rank r when
      ``r*N//world_size <= k < (r+1)*N//world_size``, so a rank memory-maps and touches only its
      own slice of the file. The shares are disjoint and cover the file. A rank whose share is
      empty raises UerError.
    - Order: each epoch walks the rank's share in windows of ``instances_buffer_size``
      instances (window order shuffled per epoch) and shuffles each window; batches are
      consecutive slices of a window (the last one of a window may be smaller than
      ``batch_size``, as in UER-py). With ``group_by_length`` a window is instead ordered by
      real length (ties in shuffled order), cut into batches, and the batches are shuffled:
      each batch then holds instances of similar length, so trimmed padding (see
      uer/padding_trim.py) saves most of the work on corpora of short lines. The shuffles
      come from numpy Generators seeded with ``(seed, rank, epoch)``, so a run is
      reproducible and every epoch differs.
    - Dynamic masking: if the dataset was built with ``--dynamic_masking`` (targets whose
      ``batch_fields`` hold ``tgt_mlm``),
      every batch is masked afresh with ``uer.data.masking.mask_batch`` using ``vocab``
      (required then) and the span options given here (the *pretrain* flags).
    - Whole word masking (``whole_word_masking=True``, pretrain.py --whole_word_masking):
      dynamic batches mask whole words from the dataset's ``word_start`` array; a dataset
      without word boundaries (not built with ``preprocess.py --whole_word_masking
      --dynamic_masking``) raises UerError, and so does span masking asked at the same time.
      A static dataset built with --whole_word_masking already holds whole-word masks.
    - A batch with zero masked tokens (targets reading ``tgt_mlm``) is skipped.
    - Attributes: ``header`` (dict), ``target``, ``seq_length``, ``dynamic_masking``,
      ``num_instances`` (this rank's share), ``epoch`` (current epoch, starts at 0).
    - ``make_batch(indices, mask_rng)``: the batch of those instances (dynamic masks drawn
      from ``mask_rng``), or None when it has no masked token; the held-out evaluation
      (uer/heldout.py) builds its fixed batches with it.
    - ``state_dict()`` / ``load_state_dict(state)``: {"epoch", "batches_in_epoch"} so a resumed
      run continues where it stopped (the same batches follow).

``build_pretrain_loader(args, rank=0, world_size=1) -> PretrainLoader``
    Convenience: reads ``args.dataset_path``, ``args.batch_size``, ``args.instances_buffer_size``,
    ``args.seed``, ``args.vocab``, ``args.span_masking``, ``args.span_geo_prob``,
    ``args.span_max_length``, ``args.whole_word_masking`` and calls ``check_dataset(args.dataset_path, args.target,
    args.vocab)`` first.
"""
import numpy as np
import torch

from uer.data.masking import mask_batch
from uer.data.storage import open_dataset, read_header
from uer.errors import UerError
from uer.constants import INSTANCES_BUFFER_SIZE, SPAN_GEO_PROB, SPAN_MAX_LENGTH
from uer.targets import str2target


def check_dataset(path, target, vocab):
    """The dataset's header, after checking it was built for ``target`` with ``vocab``."""
    header = read_header(path)
    if header["target"] != target:
        raise UerError(f"{path} was built for target {header['target']}, not {target}")
    if vocab is not None and (header["vocab_size"] != len(vocab)
                              or header["vocab_checksum"] != vocab.checksum):
        raise UerError(f"{path} was built with a different vocabulary (size {header['vocab_size']}, "
                       f"checksum {header['vocab_checksum']}; now size {len(vocab)}, "
                       f"checksum {vocab.checksum})")
    return header


def build_pretrain_loader(args, rank=0, world_size=1):
    check_dataset(args.dataset_path, args.target, getattr(args, "vocab", None))
    return PretrainLoader(args.dataset_path, args.batch_size, rank=rank, world_size=world_size,
                          instances_buffer_size=getattr(args, "instances_buffer_size",
                                                        INSTANCES_BUFFER_SIZE),
                          seed=getattr(args, "seed", 7), vocab=getattr(args, "vocab", None),
                          span_masking=getattr(args, "span_masking", False),
                          span_geo_prob=getattr(args, "span_geo_prob", SPAN_GEO_PROB),
                          span_max_length=getattr(args, "span_max_length", SPAN_MAX_LENGTH),
                          group_by_length=getattr(args, "group_by_length", False),
                          whole_word_masking=getattr(args, "whole_word_masking", False))


class PretrainLoader:
    """Endless batches of one rank's share of a dataset file (see the module docstring)."""

    def __init__(self, dataset_path, batch_size, rank=0, world_size=1,
                 instances_buffer_size=INSTANCES_BUFFER_SIZE, seed=7, vocab=None,
                 span_masking=False, span_geo_prob=SPAN_GEO_PROB,
                 span_max_length=SPAN_MAX_LENGTH, group_by_length=False,
                 whole_word_masking=False):
        if batch_size < 1:
            raise UerError(f"--batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise UerError(f"rank {rank} is outside world_size {world_size}")
        self.path = dataset_path
        self.dataset = open_dataset(dataset_path)
        self.header = self.dataset.header
        self.target = self.header["target"]
        self.fields = str2target[self.target].batch_fields
        self.seq_length = self.header["seq_length"]
        self.dynamic_masking = bool(self.header.get("dynamic_masking"))
        self.batch_size = batch_size
        self.buffer_size = max(1, instances_buffer_size)
        self.seed = seed
        self.rank = rank
        self.group_by_length = bool(group_by_length)
        total = self.dataset.num_instances
        self.begin = rank * total // world_size
        self.end = (rank + 1) * total // world_size
        self.num_instances = self.end - self.begin
        if self.num_instances == 0:
            raise UerError(f"{dataset_path} has {total} instances: too few for rank {rank} "
                           f"of world_size {world_size}")
        self.whole_word_masking = bool(whole_word_masking)
        if self.whole_word_masking:
            self._check_word_boundaries(span_masking)
        self.masking = None
        if self.dynamic_masking:
            if vocab is None:
                raise UerError(f"{dataset_path} was built with --dynamic_masking: "
                               "the loader needs the vocabulary")
            self.masking = dict(vocab_size=len(vocab), cls_id=vocab.cls_id, sep_id=vocab.sep_id,
                                mask_id=vocab.mask_id, span_masking=span_masking,
                                span_geo_prob=span_geo_prob, span_max_length=span_max_length)
        self.epoch = 0
        self._batches_in_epoch = 0

    def _check_word_boundaries(self, span_masking):
        if span_masking:
            raise UerError("--span_masking and --whole_word_masking cannot be used together: "
                           "choose one")
        if "tgt_mlm" not in self.fields:
            raise UerError(f"--whole_word_masking needs a masked-LM target, not {self.target}")
        has_words = ("word_start" in self.dataset.arrays if self.dynamic_masking
                     else bool(self.header.get("whole_word_masking")))  # static: masked by word
        if not has_words:
            raise UerError(f"{self.path} has no word boundaries for --whole_word_masking: "
                           "rebuild it with `preprocess.py --whole_word_masking --dynamic_masking`")

    # --- resume ------------------------------------------------------------------------
    def state_dict(self):
        return {"epoch": self.epoch, "batches_in_epoch": self._batches_in_epoch}

    def load_state_dict(self, state):
        self.epoch = int(state["epoch"])
        self._batches_in_epoch = int(state["batches_in_epoch"])

    # --- iteration ---------------------------------------------------------------------
    def _epoch_batches(self, epoch):
        """Index arrays (absolute instance numbers) of every batch of one epoch."""
        rng = np.random.default_rng([self.seed, self.rank, epoch])
        starts = np.arange(self.begin, self.end, self.buffer_size)
        for start in starts[rng.permutation(len(starts))]:
            stop = min(start + self.buffer_size, self.end)
            window = start + rng.permutation(stop - start)
            if self.group_by_length:
                window = window[np.argsort(self._lengths(window), kind="stable")]
            batches = [window[i:i + self.batch_size] for i in range(0, len(window), self.batch_size)]
            if self.group_by_length:
                batches = [batches[i] for i in rng.permutation(len(batches))]
            for batch in batches:
                # Sorted indices read the memory map front to back; the batch is a set anyway.
                yield np.sort(batch)

    def _lengths(self, indices):
        """Real (non-padding) length of each instance."""
        arrays = self.dataset.arrays
        ends = arrays["n_real"] if "n_real" in arrays else arrays["b_end"]
        return np.asarray(ends[indices], dtype=np.int64)

    def __iter__(self):
        while True:
            skip = self._batches_in_epoch
            for number, indices in enumerate(self._epoch_batches(self.epoch)):
                if number < skip:
                    continue
                self._batches_in_epoch = number + 1
                # Masking draws are keyed by the batch number: a resumed run masks alike.
                mask_rng = np.random.default_rng([self.seed, self.rank, self.epoch, number, 1])
                batch = self.make_batch(indices, mask_rng)
                if batch is not None:
                    yield batch
            self.epoch += 1
            self._batches_in_epoch = 0

    def make_batch(self, indices, mask_rng):
        """Tensors of one batch (the target's ``batch_fields``), or None when a masked-LM batch
        has no masked token."""
        arrays = self.dataset.batch(indices)
        if self.masking is not None and "tgt_mlm" in self.fields:
            word_start = arrays.get("word_start") if self.whole_word_masking else None
            arrays["src"], arrays["tgt_mlm"] = mask_batch(arrays["src"], mask_rng,
                                                          word_start=word_start, **self.masking)
        arrays["seg"] = _segments(arrays, self.seq_length)
        missing = [name for name in self.fields if name not in arrays]
        if missing:
            raise UerError(f"{self.path}: the dataset has no {', '.join(missing)} for target "
                           f"{self.target}")
        if "tgt_mlm" in self.fields and not arrays["tgt_mlm"].any():
            return None
        return tuple(torch.from_numpy(arrays[name]) for name in self.fields)


def _segments(arrays, seq_length):
    """seg: 1 before a_end, 2 from a_end to b_end, 0 after."""
    positions = np.arange(seq_length)[None, :]
    a_end = arrays["a_end"].astype(np.int64)[:, None]
    b_end = arrays["b_end"].astype(np.int64)[:, None]
    return np.where(positions < a_end, 1, np.where(positions < b_end, 2, 0)).astype(np.int64)
