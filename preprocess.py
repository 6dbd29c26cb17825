"""Build a pre-training dataset file from a raw corpus (see uer/data/pipeline.py).

Example:
    python3 preprocess.py --corpus_path corpora/book_review_bert.txt \
        --vocab_path models/google_zh_vocab.txt --dataset_path dataset.pt \
        --processes_num 2 --target bert
"""
import sys

from uer.errors import cli_main
from uer.data.builders import str2builder
from uer.outputs import check_outputs
from uer.opts import masking_opts, new_parser, segmenter_opts, tokenizer_opts, vocab_opts


def build_parser():
    parser = new_parser("Turn a corpus into a pre-training dataset file.")
    parser.add_argument("--corpus_path", type=str, required=True, help="Raw corpus, UTF-8.")
    vocab_opts(parser)
    parser.add_argument("--dataset_path", type=str, default="dataset.pt",
                        help="Output dataset file (numpy arrays with a JSON header).")
    tokenizer_opts(parser)
    parser.add_argument("--processes_num", type=int, default=1,
                        help="Split the corpus into this many parts built in parallel.")
    parser.add_argument("--target", choices=str2builder, default="bert",
                        help="Pre-training target; decides the instance layout.")
    parser.add_argument("--docs_buffer_size", type=int, default=100000,
                        help="Documents held in memory at once (bert: the pool of random next "
                             "sentences; mlm --full_sentences: documents concatenated per flush).")
    parser.add_argument("--seq_length", type=int, default=128, help="Instance length.")
    parser.add_argument("--dup_factor", type=int, default=5,
                        help="Copies of each document with fresh random choices "
                             "(bert, albert, mlm; 1 with --dynamic_masking).")
    parser.add_argument("--short_seq_prob", type=float, default=0.1,
                        help="bert/albert: chance that a document uses a shorter target length.")
    parser.add_argument("--full_sentences", action="store_true",
                        help="mlm: pack lines across documents before cutting into instances.")
    parser.add_argument("--seed", type=int, default=7, help="Random seed.")
    parser.add_argument("--dynamic_masking", action="store_true",
                        help="Store unmasked instances; the loader masks each batch afresh.")
    masking_opts(parser)
    segmenter_opts(parser)
    return parser


def parse_args(argv=None):
    from uer.vocab import load_vocab

    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args.vocab = load_vocab(args)
    return args


@cli_main
def main(argv=None):
    from uer.data.pipeline import build_dataset
    from uer.tokenizers import str2tokenizer

    args = parse_args(argv)
    check_outputs(args, ["dataset_path"])
    tokenizer = str2tokenizer[args.tokenizer](args, vocab=args.vocab)
    counts = build_dataset(args, args.vocab, tokenizer)
    print(f"{args.dataset_path}: {counts['documents']} documents, {counts['instances']} "
          f"instances, {counts['tokens']} tokens, {counts['bytes']} bytes, "
          f"{counts['seconds']:.1f} seconds")
    return counts


if __name__ == "__main__":
    main()
