"""Last-layer hidden states of every non-empty input line (``[CLS]`` + its tokens, cut or padded
to --seq_length): a [lines, seq_length, hidden] tensor as UER-py, or with --pooling one
[lines, hidden] vector per line over its real tokens. Saved as .npy (numpy) when
--output_path ends in .npy, else with torch.save (a plain tensor)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.atomic import atomic_path  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer  # noqa: E402
from uer.finetune.pooling import pool  # noqa: E402
from uer.opts import POOLING_CHOICES  # noqa: E402
from uer.tools.common import (cpu_precision, load_parts, model_parser, precision_opts,  # noqa: E402
                              read_lines, resolve_model_args)
from uer.tools.runner import Body, cls_ids, pad_batch  # noqa: E402


def build_parser():
    parser = model_parser(__doc__)
    parser.add_argument("--input_path", required=True, help="Text, one sentence per line.")
    parser.add_argument("--pretrained_model_path", required=True, help="Checkpoint.")
    parser.add_argument("--output_path", required=True, help="Features (.pt or .npy).")
    parser.add_argument("--seq_length", type=int, default=128, help="Sequence length.")
    parser.add_argument("--batch_size", type=int, default=8, help="Batch size.")
    parser.add_argument("--pooling", choices=POOLING_CHOICES, default=None,
                        help="One vector per line over its real tokens (default: every position).")
    precision_opts(parser)
    return parser


def extract(body, rows, seq_length, batch_size, pooling=None):
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            src, seg = pad_batch(rows[start:start + batch_size], seq_length)
            hidden = body(src, seg)
            # float32 in the file also under --fp16 (bf16 autocast)
            outputs.append((pool(hidden, seg, pooling) if pooling else hidden).float())
    if not outputs:
        raise UerError("no non-empty line in --input_path")
    return torch.cat(outputs)


def save_features(features, path):
    with atomic_path(path) as tmp:
        if path.endswith(".npy"):
            import numpy as np

            with open(tmp, "wb") as handle:
                np.save(handle, features.numpy())
        else:
            torch.save(features.clone(), tmp)


@cli_main
def main(argv=None):
    args = resolve_model_args(build_parser(), argv)
    tokenizer = build_tokenizer(args)
    lines = [line for line in read_lines(args.input_path) if line.strip()]
    rows = [cls_ids(tokenizer, args.vocab, line, args.seq_length) for line in lines]
    body = Body(args)
    load_parts(body, args.pretrained_model_path)
    body.eval()
    with cpu_precision(args).autocast():
        features = extract(body, rows, args.seq_length, args.batch_size, args.pooling)
    save_features(features, args.output_path)
    print(f"{len(rows)} lines -> {list(features.shape)} features -> {args.output_path}")


if __name__ == "__main__":
    main()
