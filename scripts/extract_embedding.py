"""Write a model's word embedding in word2vec text format: a header ``rows dim``, then one line
``token v1 ... vd`` per vocabulary entry."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.atomic import atomic_open  # noqa: E402
from uer.checkpoint import read_state_dict  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.outputs import check_outputs  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.vocab import Vocab  # noqa: E402

WORD_EMBEDDING = "embedding.word_embedding.weight"


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--vocab_path", required=True, help="Vocabulary of the model.")
    parser.add_argument("--pretrained_model_path", required=True, help="Checkpoint.")
    parser.add_argument("--output_word_embedding_path", required=True,
                        help="Output file (word2vec text format).")
    return parser


def word_embedding(path, vocab_size, vocab_path):
    state = read_state_dict(path)
    if WORD_EMBEDDING not in state:
        raise UerError(f"{path}: no '{WORD_EMBEDDING}' in the checkpoint")
    weight = state[WORD_EMBEDDING].float()
    if weight.size(0) != vocab_size:
        raise UerError(f"{path}: the word embedding has {weight.size(0)} rows but {vocab_path} "
                       f"has {vocab_size} tokens")
    return weight


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_outputs(args, ["output_word_embedding_path"])
    vocab = Vocab.from_file(args.vocab_path, validate=False)
    weight = word_embedding(args.pretrained_model_path, len(vocab), args.vocab_path)
    with atomic_open(args.output_word_embedding_path) as out:
        out.write(f"{weight.size(0)} {weight.size(1)}\n")
        for token, row in zip(vocab.i2w, weight.tolist()):
            out.write(token + " " + " ".join(repr(x) for x in row) + "\n")
    print(f"{weight.size(0)} x {weight.size(1)} embedding -> {args.output_word_embedding_path}")


if __name__ == "__main__":
    main()
