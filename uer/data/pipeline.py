"""preprocess.py's engine: corpus -> tokenizer -> instance builder -> dataset file.

The corpus is split into ``processes_num`` contiguous byte ranges, each ending at a line
boundary (for bert/albert at a document boundary, so no document is cut). Each part is built by
its own process with random generators seeded from ``(seed, part index)``, written to raw files
in a temporary folder beside the output, and the parts are merged in order. So the file for a
given seed and ``processes_num`` never depends on timing; a different ``processes_num`` gives a
different (equally valid) random draw, except for targets without randomness (lm, bilm, cls, and
mlm with --dynamic_masking and without --full_sentences), whose output is identical.
"""
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from functools import partial

import numpy as np

from uer.atomic import atomic_path
from uer.constants import MAX_POSITIONS
from uer.data.builders import str2builder
from uer.data.builders._base import CorpusLineError
from uer.data.masking import mask_batch
from uer.data.part_writer import PartWriter, merge_parts
from uer.data.segmenter import WordEncoder, build_segmenter, check_user_dict
from uer.data.storage import token_dtype
from uer.errors import UerError
from uer.outputs import write_error

PROGRESS_EVERY = 2048  # lines between progress reports of a worker

# Set by the parent before forking workers, so the tokenizer is built once.
_STATE = {}


# --- splitting -----------------------------------------------------------------------------
def split_points(path, parts, document_aligned):
    """Byte offsets [0, b1, ..., size]: part i is [b_i, b_{i+1}); each b_i starts a line (and,
    when ``document_aligned``, follows a blank line or is the end of the file)."""
    size = os.path.getsize(path)
    points = [0]
    with open(path, "rb") as handle:
        for i in range(1, parts):
            start = max(points[-1], i * size // parts)
            if start >= size:
                points.append(size)
                continue
            handle.seek(start)
            if start > 0:
                handle.seek(start - 1)
                if handle.read(1) != b"\n":
                    handle.readline()  # finish the line we landed in
            if document_aligned:
                while True:
                    line = handle.readline()
                    if not line or not line.strip():
                        break
            points.append(handle.tell())
    points.append(size)
    return points


def line_number_at(path, offset):
    """1-based number of the line that starts at or contains byte ``offset``."""
    count = 0
    with open(path, "rb") as handle:
        while offset > 0:
            chunk = handle.read(min(offset, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count + 1


# --- one part ------------------------------------------------------------------------------
def static_masking(args):
    """Masks are drawn at preprocessing (not by the loader) for this build."""
    return str2builder[args.target].uses_masking and not args.dynamic_masking


def whole_word_masking(args):
    return bool(getattr(args, "whole_word_masking", False))


def _make_mask_fn(args, vocab, part):
    if not static_masking(args):
        return None
    rng = np.random.default_rng([args.seed, part, 1])
    return partial(mask_batch, rng=rng, vocab_size=len(vocab), cls_id=vocab.cls_id,
                   sep_id=vocab.sep_id, mask_id=vocab.mask_id, span_masking=args.span_masking,
                   span_geo_prob=args.span_geo_prob, span_max_length=args.span_max_length)


def build_part(part, start, end, prefix, progress=None):
    """Build instances for bytes [start, end) of the corpus into raw files at ``prefix``.*."""
    args, vocab, tokenizer = _STATE["args"], _STATE["vocab"], _STATE["tokenizer"]
    builder_class = str2builder[args.target]
    words = whole_word_masking(args)
    writer = PartWriter(prefix, args.seq_length, token_dtype(len(vocab)), builder_class.fields,
                        _make_mask_fn(args, vocab, part), word_flags=words)
    if words:  # ids with word-continuation flags (uer/data/segmenter.py)
        encode = WordEncoder(tokenizer, _STATE["segmenter"]).encode
    else:
        encode = getattr(tokenizer, "encode", None)
    if encode is None:  # a tokenizer without the one-call encode
        tokenize, convert = tokenizer.tokenize, tokenizer.convert_tokens_to_ids
        encode = lambda text: convert(tokenize(text))  # noqa: E731
    builder = builder_class(args, vocab, encode, writer, random.Random(f"{args.seed}-{part}"))
    path = args.corpus_path
    position = start
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = 0
        try:
            while position < end:
                raw = handle.readline()
                if not raw:
                    break
                text = raw.decode("utf-8").rstrip("\r\n")
                if position == 0 and text.startswith("\ufeff"):
                    text = text[1:]  # a UTF-8 byte order mark is not text
                builder.feed(text)
                position += len(raw)
                lines += 1
                if progress is not None and lines % PROGRESS_EVERY == 0:
                    progress(part, position - start)
            builder.finish()
            stats = writer.close()
        except UnicodeDecodeError as err:
            raise UerError(f"{path}:{line_number_at(path, position)}: not valid UTF-8 "
                           f"({err.reason} at byte {err.start} of the line)") from None
        except CorpusLineError as err:
            raise UerError(f"{path}:{line_number_at(path, position)}: {err}") from None
        finally:
            writer.close_files()  # on errors: nothing pending is written
    if progress is not None:
        progress(part, end - start)
    stats.update(documents=builder.documents, tokens=builder.tokens, lines=lines,
                 labels_num=getattr(builder, "labels_num", 0))
    return stats


def _worker_progress(shared, part, done):
    shared[part] = done


def _init_worker(shared, parent_pid):
    from uer.lifecycle import init_worker

    init_worker(parent_pid)  # a killed preprocess.py takes its workers with it
    _STATE["progress"] = partial(_worker_progress, shared)


def _run_part(part, start, end, prefix):
    return build_part(part, start, end, prefix, _STATE.get("progress"))


# --- the whole dataset -----------------------------------------------------------------------
def check_options(args, vocab):
    builder_class = str2builder[args.target]
    if not os.path.isfile(args.corpus_path):
        raise UerError(f"{args.corpus_path}: corpus file not found (--corpus_path)")
    if os.path.getsize(args.corpus_path) == 0:
        raise UerError(f"{args.corpus_path}: corpus is empty (--corpus_path)")
    if not builder_class.min_seq_length <= args.seq_length <= MAX_POSITIONS:
        raise UerError(f"--seq_length {args.seq_length} is out of range for target {args.target}: "
                       f"use {builder_class.min_seq_length}..{MAX_POSITIONS}")
    if args.processes_num < 1:
        raise UerError(f"--processes_num must be at least 1, got {args.processes_num}")
    if args.dup_factor < 1:
        raise UerError(f"--dup_factor must be at least 1, got {args.dup_factor}")
    if not 0.0 <= args.short_seq_prob <= 1.0:
        raise UerError(f"--short_seq_prob must be in [0, 1], got {args.short_seq_prob}")
    if not 0.0 < args.span_geo_prob <= 1.0 or args.span_max_length < 1:
        raise UerError("--span_geo_prob must be in (0, 1] and --span_max_length at least 1")
    if whole_word_masking(args):
        if args.span_masking:
            raise UerError("--span_masking and --whole_word_masking cannot be used together: "
                           "choose one")
        if not builder_class.uses_masking:
            masked_targets = ", ".join(n for n in str2builder if str2builder[n].uses_masking)
            raise UerError(f"--whole_word_masking needs a masked-LM target ({masked_targets}), "
                           f"not {args.target}")
        check_user_dict(getattr(args, "user_dict", None))
    folder = os.path.dirname(os.path.abspath(args.dataset_path))
    if not os.path.isdir(folder):
        raise UerError(f"{args.dataset_path}: folder {folder} does not exist (--dataset_path)")


def dataset_header(args, vocab):
    dynamic = bool(args.dynamic_masking) and str2builder[args.target].uses_masking
    header = {
        "target": args.target, "seq_length": args.seq_length, "vocab_size": len(vocab),
        "vocab_checksum": vocab.checksum, "cls_id": vocab.cls_id, "sep_id": vocab.sep_id,
        "mask_id": vocab.mask_id, "tokenizer": args.tokenizer,
        "dynamic_masking": dynamic, "span_masking": bool(args.span_masking),
        "span_geo_prob": args.span_geo_prob, "span_max_length": args.span_max_length,
        "dup_factor": args.dup_factor, "short_seq_prob": args.short_seq_prob,
        "full_sentences": bool(args.full_sentences), "docs_buffer_size": args.docs_buffer_size,
        "seed": args.seed, "processes_num": args.processes_num,
        "corpus": os.path.basename(args.corpus_path),
    }
    if whole_word_masking(args):  # only then: datasets built without it stay byte-identical
        header["whole_word_masking"] = True
        header["segmenter"] = args.segmenter
        user_dict = getattr(args, "user_dict", None)
        header["user_dict"] = os.path.basename(user_dict) if user_dict else None
    return header


def build_dataset(args, vocab, tokenizer, show_progress=True):
    """Build ``args.dataset_path``; returns the summary counts. Nothing is left at the output
    path on failure (temporary files live beside it and are removed)."""
    check_options(args, vocab)
    began = time.time()
    segmenter = None
    if whole_word_masking(args):  # built once here, shared by the forked workers
        segmenter = build_segmenter(getattr(args, "segmenter", "jieba"),
                                    getattr(args, "user_dict", None))
    builder_class = str2builder[args.target]
    points = split_points(args.corpus_path, args.processes_num, builder_class.document_corpus)
    ranges = [(i, points[i], points[i + 1]) for i in range(args.processes_num)]
    output = os.path.abspath(args.dataset_path)
    folder, name = os.path.split(output)
    # The PID in the names lets the next run on this output remove what a killed run left.
    workdir = tempfile.mkdtemp(prefix=f".{name}.parts-{os.getpid()}-", dir=folder)
    _STATE.update(args=args, vocab=vocab, tokenizer=tokenizer, segmenter=segmenter)
    try:
        prefixes = [os.path.join(workdir, f"part{i}") for i, _, _ in ranges]
        try:
            results = _run_parts(ranges, prefixes, points[-1], show_progress)
        except OSError as err:  # a full disk while writing the parts beside the output
            raise write_error(err, output) from None
        counts = {key: sum(r[key] for r in results)
                  for key in ("documents", "instances", "tokens", "masked", "lines")}
        if counts["instances"] == 0:
            raise UerError(f"{args.corpus_path}: no instances could be built "
                           f"(the corpus has no usable text for target {args.target})")
        header = dataset_header(args, vocab)
        header["counts"] = counts
        if hasattr(builder_class, "labels_num"):  # a builder that counts labels records them
            header["labels_num"] = max(r["labels_num"] for r in results)
        try:
            with atomic_path(output) as tmp_path:
                merge_parts(tmp_path, header, prefixes, args.seq_length, token_dtype(len(vocab)),
                            builder_class.fields, static_masking(args),
                            word_start=header.get("whole_word_masking", False)
                            and not static_masking(args))
        except OSError as err:
            raise write_error(err, output) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        _STATE.clear()
    counts["seconds"] = time.time() - began
    counts["bytes"] = os.path.getsize(output)
    return counts


def _progress_bar(total, show):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="preprocess", file=sys.stderr,
                disable=not show, mininterval=0.5)


def _run_parts(ranges, prefixes, total_bytes, show_progress):
    with _progress_bar(total_bytes, show_progress) as bar:
        if len(ranges) == 1:
            done = [0]

            def progress(_part, value):
                bar.update(value - done[0])
                done[0] = value

            part, start, end = ranges[0]
            return [build_part(part, start, end, prefixes[0], progress)]
        context = multiprocessing.get_context("fork")
        shared = context.Array("q", len(ranges), lock=False)
        with context.Pool(len(ranges), initializer=_init_worker,
                          initargs=(shared, os.getpid())) as pool:
            pending = [pool.apply_async(_run_part, (part, start, end, prefixes[part]))
                       for part, start, end in ranges]
            while not all(job.ready() for job in pending):
                for job in pending:
                    if job.ready() and not job.successful():
                        job.get()  # a failed worker stops the run now; the pool is terminated
                bar.update(sum(shared) - bar.n)
                time.sleep(0.1)
            results = [job.get() for job in pending]
            bar.update(sum(shared) - bar.n)
            return results
