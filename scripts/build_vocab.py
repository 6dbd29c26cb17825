"""Build a vocabulary from a corpus: the 104 reserved tokens first ([PAD] at id 0), then every
token by descending count (ties in code-point order), dropping tokens seen under --min_count.

Example:
    python3 scripts/build_vocab.py --corpus_path corpora/sample_bert.txt datasets/sample_sentiment/train.tsv \
        --vocab_path models/sample_vocab.txt --tokenizer bert --min_count 1 --workers_num 2
"""
import collections
import multiprocessing
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.atomic import write_text  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.lifecycle import init_worker  # noqa: E402
from uer.outputs import check_outputs  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.tokenizers import str2tokenizer  # noqa: E402

RESERVED_VOCAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "models", "reserved_vocab.txt")


def parse_args(argv=None):
    parser = new_parser("Build a vocabulary file from a corpus.")
    parser.add_argument("--corpus_path", required=True, nargs="+",
                        help="Corpus file(s), UTF-8, one unit per line.")
    parser.add_argument("--vocab_path", required=True, help="Output vocabulary file.")
    parser.add_argument("--spm_model_path", default=None,
                        help="Count sentencepiece pieces of this model (with --tokenizer bert).")
    parser.add_argument("--tokenizer", choices=str2tokenizer, default="space",
                        help="bert: basic tokenization (words, CJK characters, punctuation); "
                             "char: characters; space: space-separated tokens.")
    parser.add_argument("--min_count", type=int, default=1, help="Drop tokens seen fewer times.")
    parser.add_argument("--workers_num", type=int, default=1, help="Counting processes.")
    args = parser.parse_args(argv)
    if args.min_count < 1:
        raise UerError(f"--min_count must be at least 1, got {args.min_count}")
    if args.workers_num < 1:
        raise UerError(f"--workers_num must be at least 1, got {args.workers_num}")
    check_outputs(args, ["vocab_path"])
    return args


def make_splitter(tokenizer, spm_model_path):
    if tokenizer == "char":
        return lambda line: list(line.strip())
    if tokenizer == "space":
        return lambda line: line.strip().split(" ")
    if spm_model_path:
        from uer.tokenizers.spm import encode_pieces, load_spm
        processor = load_spm(spm_model_path)
        return lambda line: encode_pieces(processor, line)
    from uer.tokenizers.basic import BasicTokenizer
    return BasicTokenizer(do_lower_case=True).tokenize


def byte_ranges(path, parts):
    """Split the file into ``parts`` byte ranges that start at line beginnings."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as handle:
        for index in range(1, parts):
            handle.seek(max(bounds[-1], size * index // parts))
            if handle.tell() > 0:
                handle.readline()  # move to the start of the next line
            bounds.append(min(size, handle.tell()))
    bounds.append(size)
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i] < bounds[i + 1]]


def count_range(job):
    path, start, end, tokenizer, spm_model_path = job
    split = make_splitter(tokenizer, spm_model_path)
    counts = collections.Counter()
    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        while position < end:
            raw = handle.readline()
            if not raw:
                break
            position += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                return ("error", f"{path}: byte offset {position - len(raw)}: line is not valid UTF-8")
            if line.strip():
                counts.update(t for t in split(line) if t.strip() or tokenizer == "char")
    return ("ok", counts)


def build(args):
    jobs = []
    for path in args.corpus_path:
        if not os.path.isfile(path):
            raise UerError(f"{path}: corpus not found (--corpus_path)")
        jobs += [(path, start, end, args.tokenizer, args.spm_model_path)
                 for start, end in byte_ranges(path, args.workers_num)]
    if not jobs:
        raise UerError(f"{' '.join(args.corpus_path)}: corpus is empty")
    if len(jobs) == 1:
        results = [count_range(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(min(len(jobs), args.workers_num),
                                                   initializer=init_worker,
                                                   initargs=(os.getpid(),)) as pool:
            results = pool.map(count_range, jobs)
    counts = collections.Counter()
    for status, value in results:
        if status == "error":
            raise UerError(value)
        counts.update(value)
    with open(RESERVED_VOCAB, encoding="utf-8") as handle:
        reserved = [line.rstrip("\n") for line in handle]
    reserved_set = set(reserved)
    ranked = sorted((t for t, c in counts.items() if c >= args.min_count and t not in reserved_set),
                    key=lambda t: (-counts[t], t))
    tokens = reserved + ranked
    write_text(args.vocab_path, "".join(t + "\n" for t in tokens))
    print(f"Vocabulary size: {len(tokens)} ({len(ranked)} corpus tokens, "
          f"{len(counts) - len(ranked)} dropped under --min_count {args.min_count})")
    return tokens


@cli_main
def main(argv=None):
    return build(parse_args(argv))


if __name__ == "__main__":
    main()
