"""Nearest words by the cosine similarity of their word-embedding rows (context-free)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.checkpoint import read_state_dict  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.tools.common import read_lines  # noqa: E402
from uer.vocab import Vocab  # noqa: E402

WORD_EMBEDDING = "embedding.word_embedding.weight"


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--target_words_path", required=True, help="Words, one per line.")
    parser.add_argument("--vocab_path", required=True, help="Vocabulary of the model.")
    parser.add_argument("--cand_vocab_path", required=True, help="Candidate words, one per line.")
    parser.add_argument("--pretrained_model_path", required=True, help="Checkpoint.")
    parser.add_argument("--topn", type=int, default=20, help="Neighbours per word.")
    return parser


def candidates(vocab, path):
    tokens = Vocab.from_file(path, validate=False).i2w
    kept = list(dict.fromkeys(t for t in tokens if t in vocab))
    if not kept:
        raise UerError(f"{path}: no candidate word is in the model vocabulary (--cand_vocab_path)")
    return kept


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.topn < 1:
        raise UerError(f"--topn must be at least 1, got {args.topn}")
    vocab = Vocab.from_file(args.vocab_path, validate=False)
    state = read_state_dict(args.pretrained_model_path)
    if WORD_EMBEDDING not in state:
        raise UerError(f"{args.pretrained_model_path}: no '{WORD_EMBEDDING}' in the checkpoint")
    weight = state[WORD_EMBEDDING].float()
    if weight.size(0) != len(vocab):
        raise UerError(f"{args.pretrained_model_path}: the word embedding has {weight.size(0)} "
                       f"rows but {args.vocab_path} has {len(vocab)} tokens")
    cands = candidates(vocab, args.cand_vocab_path)
    normed = torch.nn.functional.normalize(weight, dim=-1)
    cand_vectors = normed[[vocab.get(t) for t in cands]]
    for word in (w.strip() for w in read_lines(args.target_words_path, "--target_words_path")):
        if not word:
            continue
        print(f"Target word: {word}")
        if word not in vocab:
            print(f"{word}: not in the vocabulary", file=sys.stderr)
            print()
            continue
        sims = cand_vectors @ normed[vocab.get(word)]
        order = [i for i in sims.argsort(descending=True).tolist() if cands[i] != word]
        for index in order[:args.topn]:
            print(f"{cands[index]}\t{sims[index].item()}")
        print()


if __name__ == "__main__":
    main()
