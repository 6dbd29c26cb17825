"""Shared parts of the instance builders.

A builder is fed the corpus one line at a time (``feed(text)``, text without its newline), then
``finish()``. It turns lines into padded instances and hands them to a ``PartWriter``
(``writer.add(tokens, field_values)`` / ``writer.add_rows(rows, **fields)``). Token sequences are
kept as compact ``array`` objects (2 bytes per id for vocabularies up to 65536), so a buffer of
``docs_buffer_size`` documents stays small.
"""
from array import array
from bisect import bisect_left

import numpy as np

from uer.errors import UerError


class CorpusLineError(UerError):
    """A bad corpus line; the caller adds the file name and line number."""


class InstanceBuilder:
    #: smallest --seq_length that can hold one instance of this target
    min_seq_length = 2
    #: blank lines separate documents (the corpus split must not cut a document)
    document_corpus = False
    #: the target trains an MLM head (static masking at preprocessing or dynamic in the loader)
    uses_masking = False
    #: --dup_factor applies
    uses_dup_factor = False
    #: per-instance fields besides src: name -> numpy dtype string, or "token" (the id dtype)
    fields = {}

    def __init__(self, args, vocab, encode, writer, rng):
        self.seq_length = args.seq_length
        self.vocab = vocab
        self.cls_id = vocab.cls_id
        self.sep_id = vocab.sep_id
        self.encode = encode
        self.writer = writer
        self.rng = rng
        # Whole word masking carries a flag bit inside the ids (segmenter.CONTINUATION).
        wide = len(vocab) > 65536 or getattr(args, "whole_word_masking", False)
        self.typecode = "i" if wide else "H"
        self.dup_factor = args.dup_factor if self.uses_dup_factor else 1
        if args.dynamic_masking:
            self.dup_factor = 1  # copies would only differ by their masks
        self.docs_buffer_size = max(1, args.docs_buffer_size)
        self.documents = 0
        self.tokens = 0

    def ids(self, values=()):
        return array(self.typecode, values)

    def encode_line(self, text):
        ids = self.encode(text)
        self.tokens += len(ids)
        return array(self.typecode, ids)

    @classmethod
    def read_fields(cls, out, dataset, indices):
        """Add to ``out`` (the arrays of the instances ``indices``, see ``DatasetFile.batch``)
        the fields that are derived at read time instead of stored; none by default."""

    def feed(self, text):
        raise NotImplementedError

    def finish(self):
        pass


class DocumentBuilder(InstanceBuilder):
    """bert/albert: one sentence per line, documents separated by blank lines. Documents are
    buffered (``docs_buffer_size``) and each full buffer is turned into instances
    ``dup_factor`` times, with fresh random choices each pass.

    A document is kept as ``(tokens, offsets)``: all its ids in one array and the sentence
    boundaries (``offsets[k]`` = start of sentence k, ``offsets[-1]`` = end), so chunks,
    segments and random next sentences are slices found by bisection, not token loops."""

    document_corpus = True
    uses_masking = True
    uses_dup_factor = True
    min_seq_length = 5  # [CLS] a [SEP] b [SEP] with a target length of at least 2
    fields = {"a_end": "<u2", "b_end": "<u2", "label": "u1"}

    def __init__(self, args, vocab, encode, writer, rng):
        super().__init__(args, vocab, encode, writer, rng)
        self.short_seq_prob = args.short_seq_prob
        self.doc_tokens = self.ids()
        self.doc_offsets = [0]
        self.buffer = []

    def feed(self, text):
        if not text.strip():
            self.end_document()
            return
        ids = self.encode(text)
        if ids:  # sentences that tokenize to nothing are dropped, as in UER-py
            self.tokens += len(ids)
            self.doc_tokens.extend(ids)
            self.doc_offsets.append(len(self.doc_tokens))

    def end_document(self):
        if len(self.doc_offsets) > 1:
            self.buffer.append((self.doc_tokens, self.doc_offsets))
            self.documents += 1
            self.doc_tokens = self.ids()
            self.doc_offsets = [0]
            if len(self.buffer) >= self.docs_buffer_size:
                self.flush()

    def finish(self):
        self.end_document()  # the last document needs no trailing blank line
        self.flush()

    def flush(self):
        for _ in range(self.dup_factor):
            for index in range(len(self.buffer)):
                self.instances_from_document(self.buffer, index)
        self.buffer = []

    def instances_from_document(self, documents, index):
        raise NotImplementedError

    # --- helpers shared by bert and albert ---------------------------------------------
    def target_length(self, max_tokens):
        rand = self.rng.random
        if rand() < self.short_seq_prob:
            return 2 + int(rand() * (max_tokens - 1))  # uniform in [2, max_tokens]
        return max_tokens

    def chunk_end(self, offsets, first, target_length):
        """Index past the last sentence of the chunk starting at sentence ``first``: sentences
        are added until the chunk reaches ``target_length`` tokens or the document ends."""
        end = bisect_left(offsets, offsets[first] + target_length, first + 1)
        return min(end, len(offsets) - 1)

    def split_point(self, count):
        """Number of the chunk's sentences that form segment A."""
        return 1 + int(self.rng.random() * (count - 1)) if count >= 2 else 1

    def truncated_bounds(self, a_len, b_len, max_tokens):
        """(a_front, a_back, b_front, b_back) tokens to cut so the pair fits in ``max_tokens``.

        Same distribution as removing one token at a time from the longer side (B on ties),
        from the front or the back with 50/50 chance: the final lengths follow from that rule,
        and the number cut from the front of a side is Binomial(cut, 1/2)."""
        if a_len + b_len <= max_tokens:
            return 0, 0, 0, 0
        b_balanced = max_tokens // 2
        a_balanced = max_tokens - b_balanced
        if a_len <= a_balanced:
            a_keep, b_keep = a_len, max_tokens - a_len
        elif b_len <= b_balanced:
            a_keep, b_keep = max_tokens - b_len, b_len
        else:
            a_keep, b_keep = a_balanced, b_balanced
        bits = self.rng.getrandbits
        a_cut, b_cut = a_len - a_keep, b_len - b_keep
        a_front = bin(bits(a_cut)).count("1") if a_cut else 0
        b_front = bin(bits(b_cut)).count("1") if b_cut else 0
        return a_front, a_cut - a_front, b_front, b_cut - b_front

    def emit_pair(self, a, b, label, max_tokens):
        """[CLS] a [SEP] b [SEP] after truncation (a and b are id arrays)."""
        if len(a) + len(b) > max_tokens:
            a_front, a_back, b_front, b_back = self.truncated_bounds(len(a), len(b), max_tokens)
            a = a[a_front:len(a) - a_back]
            b = b[b_front:len(b) - b_back]
        # Hot path: append straight into the writer's pending buffer (see PartWriter.add).
        writer = self.writer
        flat = writer.flat
        flat.append(self.cls_id)
        flat += a
        flat.append(self.sep_id)
        flat += b
        flat.append(self.sep_id)
        writer.added(len(a) + len(b) + 3, (len(a) + 2, len(a) + len(b) + 3, label))


# --- fields derived at read time -------------------------------------------------------
def shifted_left(src, n_real, last):
    """tgt[i] = src[i+1] for i < n-1, tgt[n-1] = last, 0 after."""
    tgt = np.zeros_like(src)
    tgt[:, :-1] = src[:, 1:]
    positions = np.arange(src.shape[1])[None, :]
    tgt[positions >= n_real[:, None] - 1] = 0
    rows = np.nonzero(n_real > 0)[0]
    tgt[rows, n_real[rows] - 1] = np.asarray(last, dtype=np.int64)[rows]
    return tgt


def shifted_right(src, n_real, first):
    """tgt[0] = first, tgt[i] = src[i-1] for 0 < i < n, 0 after."""
    tgt = np.zeros_like(src)
    tgt[:, 1:] = src[:, :-1]
    tgt[:, 0] = first
    tgt[np.arange(src.shape[1])[None, :] >= n_real[:, None]] = 0
    return tgt
