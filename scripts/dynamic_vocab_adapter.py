"""Adapt a checkpoint to a new vocabulary: the vocabulary-sized rows of the word embedding, the
MLM output layer (target.mlm_linear_2) and the LM output layer (target.output_layer) are
rebuilt for the new vocabulary; shared tokens keep their rows, new tokens get N(0, 0.02) rows
(biases too, as UER-py). Tied weights stay tied. Every other tensor is copied."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.checkpoint import read_state_dict  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.outputs import check_outputs  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.sidecar import copy_sidecar  # noqa: E402
from uer.tools.common import save_state_dict  # noqa: E402
from uer.vocab import Vocab  # noqa: E402

# Tensors whose first dimension is the vocabulary.
VOCAB_KEYS = ("embedding.word_embedding.weight",
              "target.mlm_linear_2.weight", "target.mlm_linear_2.bias",
              "target.output_layer.weight", "target.output_layer.bias")
WORD_EMBEDDING = VOCAB_KEYS[0]


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--old_model_path", required=True, help="Checkpoint to adapt.")
    parser.add_argument("--old_vocab_path", required=True, help="Its vocabulary.")
    parser.add_argument("--new_vocab_path", required=True, help="The new vocabulary.")
    parser.add_argument("--new_model_path", required=True, help="Adapted checkpoint.")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the new rows.")
    return parser


def adapt(state, old_tokens, new_tokens, seed=7, path="<checkpoint>"):
    """New state dict for ``new_tokens``; returns (state, count of shared tokens)."""
    old_index = {}
    for index, token in enumerate(old_tokens):
        old_index[token] = index  # the last duplicate wins, as Vocab does
    pairs = [(new, old_index[token]) for new, token in enumerate(new_tokens) if token in old_index]
    new_rows = torch.tensor([n for n, _ in pairs], dtype=torch.long)
    old_rows = torch.tensor([o for _, o in pairs], dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    adapted = {}
    for key, value in state.items():
        if key not in VOCAB_KEYS:
            adapted[key] = value
            continue
        if value.size(0) != len(old_tokens):
            raise UerError(f"{path}: '{key}' has {value.size(0)} rows but the old vocabulary has "
                           f"{len(old_tokens)} tokens")
        tied = (key != WORD_EMBEDDING and WORD_EMBEDDING in adapted
                and torch.equal(value, state[WORD_EMBEDDING]))
        if tied:
            adapted[key] = adapted[WORD_EMBEDDING]  # tied output layer: the same tensor
            continue
        fresh = torch.empty((len(new_tokens),) + tuple(value.shape[1:]), dtype=torch.float32)
        fresh.normal_(0.0, 0.02, generator=generator)
        fresh = fresh.to(value.dtype)
        if len(pairs):
            fresh[new_rows] = value[old_rows]
        adapted[key] = fresh
    if WORD_EMBEDDING not in adapted:
        raise UerError(f"{path}: no '{WORD_EMBEDDING}' in the checkpoint")
    return adapted, len(pairs)


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_outputs(args, ["new_model_path"])
    old_vocab = Vocab.from_file(args.old_vocab_path, validate=False)
    new_vocab = Vocab.from_file(args.new_vocab_path, validate=False)
    state = read_state_dict(args.old_model_path)
    # the word embedding first, so a tied output layer can reuse its new tensor
    ordered = dict(sorted(state.items(), key=lambda item: item[0] != WORD_EMBEDDING))
    adapted, shared = adapt(ordered, old_vocab.i2w, new_vocab.i2w, args.seed, args.old_model_path)
    adapted = {key: adapted[key] for key in state}  # the original key order
    save_state_dict(adapted, args.new_model_path)
    copy_sidecar(args.old_model_path, args.new_model_path, vocab=new_vocab)
    print(f"{len(old_vocab)} -> {len(new_vocab)} tokens ({shared} shared rows copied, "
          f"{len(new_vocab) - shared} new) -> {args.new_model_path}")


if __name__ == "__main__":
    main()
