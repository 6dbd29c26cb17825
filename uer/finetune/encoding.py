"""Text -> token ids for sentence and sentence-pair tasks, in several processes for big files.

Layout (BERT's, which fixes UER-py's missing final [SEP] on single sentences):
``[CLS] a [SEP]`` with segment 1, or ``[CLS] a [SEP]`` (segment 1) + ``b [SEP]`` (segment 2).
Texts are cut so that the special tokens always fit (the longer text of a pair is cut first)."""
import multiprocessing
import os

# Below this many texts one process is faster than starting workers.
PARALLEL_MIN_TEXTS = 10000
TEXTS_PER_WORKER = 5000


class PairEncoder:
    """Encodes (text_a, text_b or None) into ``(ids, first_len)``: ``first_len`` is the length of
    the segment-1 part, the rest is segment 2."""

    def __init__(self, tokenizer, vocab, seq_length):
        self.tokenizer = tokenizer
        self.cls_id = vocab.cls_id
        self.sep_id = vocab.sep_id
        self.seq_length = seq_length

    def ids(self, text):
        return self.tokenizer.encode(text)

    def encode(self, text_a, text_b=None):
        ids_a = self.ids(text_a)
        if text_b is None:
            ids_a = ids_a[: max(0, self.seq_length - 2)]
            ids = [self.cls_id] + ids_a + [self.sep_id]
            return ids[: self.seq_length], min(len(ids), self.seq_length)
        ids_b = self.ids(text_b)
        len_a, len_b = len(ids_a), len(ids_b)
        budget = max(0, self.seq_length - 3)
        while len_a + len_b > budget:  # cut the longer text first, as BERT does
            if len_a >= len_b:
                len_a -= 1
            else:
                len_b -= 1
        ids_a, ids_b = ids_a[:len_a], ids_b[:len_b]
        first = [self.cls_id] + ids_a + [self.sep_id]
        ids = (first + ids_b + [self.sep_id])[: self.seq_length]
        return ids, min(len(first), self.seq_length)


_worker_encoder = None


def _init_worker(encoder, parent_pid):
    from uer.lifecycle import init_worker

    global _worker_encoder
    init_worker(parent_pid)  # a killed fine-tuning run takes its tokenizing workers along
    _worker_encoder = encoder


def _encode_chunk(pairs):
    return [_worker_encoder.encode(a, b) for a, b in pairs]


def encode_pairs(encoder, pairs, processes=None):
    """Encode a list of ``(text_a, text_b or None)``; big lists are split over processes
    (fork start method, so the tokenizer is inherited rather than pickled). Order is kept."""
    pairs = list(pairs)
    if processes is None:
        processes = min(os.cpu_count() or 1, 8, len(pairs) // TEXTS_PER_WORKER)
    if (len(pairs) < PARALLEL_MIN_TEXTS or processes <= 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [encoder.encode(a, b) for a, b in pairs]
    chunk = -(-len(pairs) // (processes * 4))
    chunks = [pairs[i:i + chunk] for i in range(0, len(pairs), chunk)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_init_worker,
                      initargs=(encoder, os.getpid())) as pool:
        results = pool.map(_encode_chunk, chunks)
    return [item for part in results for item in part]
