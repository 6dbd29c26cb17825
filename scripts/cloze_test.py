"""Cloze test: in each input line one random position (after [CLS]) is replaced by [MASK] and
the MLM head's top-n tokens for it are written with the correct one."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.atomic import atomic_open  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer  # noqa: E402
from uer.tools.common import (cpu_precision, load_parts, model_parser, precision_opts,  # noqa: E402
                              read_lines, resolve_model_args)
from uer.tools.runner import MLM_PREFIXES, Body, cls_ids, mlm_logits, pad_batch  # noqa: E402


def build_parser():
    parser = model_parser(__doc__)
    parser.add_argument("--pretrained_model_path", default="models/google_model.bin",
                        help="Checkpoint with an MLM head (--target bert or mlm).")
    parser.add_argument("--input_path", default="datasets/cloze_input.txt",
                        help="Sentences, one per line.")
    parser.add_argument("--output_path", default="datasets/cloze_output.txt", help="Output.")
    parser.add_argument("--batch_size", type=int, default=64, help="Batch size.")
    parser.add_argument("--seq_length", type=int, default=100, help="Sequence length.")
    parser.add_argument("--target", choices=["bert", "mlm"], default="bert",
                        help="Pre-training target of the checkpoint.")
    parser.add_argument("--topn", type=int, default=10, help="Predictions per sentence.")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the masked positions.")
    precision_opts(parser)
    return parser


@cli_main
def main(argv=None):
    args = resolve_model_args(build_parser(), argv, positive=("batch_size", "topn"))
    vocab, tokenizer = args.vocab, build_tokenizer(args)
    rng = random.Random(args.seed)
    items = []  # (masked ids, position, correct id)
    for line in read_lines(args.input_path):
        ids = cls_ids(tokenizer, vocab, line, args.seq_length)
        if len(ids) < 2:
            continue
        position = rng.randint(1, len(ids) - 1)
        correct = ids[position]
        ids = list(ids)
        ids[position] = vocab.mask_id
        items.append((ids, position, correct))
    if not items:
        raise UerError(f"{args.input_path}: no non-empty line (--input_path)")
    model = Body(args, with_target=True)
    load_parts(model, args.pretrained_model_path, MLM_PREFIXES)
    model.eval()
    topn = min(args.topn, len(vocab))
    with atomic_open(args.output_path) as out, torch.inference_mode(), \
            cpu_precision(args).autocast():
        for start in range(0, len(items), args.batch_size):
            batch = items[start:start + args.batch_size]
            src, seg = pad_batch([ids for ids, _, _ in batch], args.seq_length)
            hidden = model(src, seg)
            rows = hidden[torch.arange(len(batch)), torch.tensor([p for _, p, _ in batch])]
            best = torch.softmax(mlm_logits(model.target, rows).float(), dim=-1).topk(topn).indices
            for (ids, _, correct), predicted in zip(batch, best.tolist()):
                out.write(" ".join(vocab.i2w[i] for i in ids) + "\n")
                out.write("Predicted answer: " + " ".join(vocab.i2w[i] for i in predicted) + "\n")
                out.write(f"Correct answer: {vocab.i2w[correct]}\n\n")
    print(f"{len(items)} sentences -> {args.output_path}")


if __name__ == "__main__":
    main()
