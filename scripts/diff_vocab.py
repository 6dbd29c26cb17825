"""Compare two vocabularies: sizes of each, of 1-2, 2-1 and 1&2 (first field of each line)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.errors import cli_main  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.vocab import Vocab  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--vocab_1", required=True, help="First vocabulary file.")
    parser.add_argument("--vocab_2", required=True, help="Second vocabulary file.")
    return parser


def diff(tokens_1, tokens_2):
    set_1, set_2 = set(tokens_1), set(tokens_2)
    return {"1": len(set_1), "2": len(set_2), "1-2": len(set_1 - set_2),
            "2-1": len(set_2 - set_1), "1&2": len(set_1 & set_2)}


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    tokens_1 = Vocab.from_file(args.vocab_1, validate=False, unique=False).i2w
    tokens_2 = Vocab.from_file(args.vocab_2, validate=False, unique=False).i2w
    sizes = diff(tokens_1, tokens_2)
    print(f"vocab_1 size: {sizes['1']}")
    print(f"vocab_2 size: {sizes['2']}")
    print(f"vocab_1 - vocab_2: {sizes['1-2']}")
    print(f"vocab_2 - vocab_1: {sizes['2-1']}")
    print(f"vocab_1 & vocab_2: {sizes['1&2']}")
    return sizes


if __name__ == "__main__":
    main()
