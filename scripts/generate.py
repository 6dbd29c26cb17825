"""Continue every line of --input_path with a left-to-right language model (--encoder gpt
--target lm): [CLS] + the line's tokens, then sampled tokens (temperature, top-k, nucleus) until
[SEP] or --seq_length tokens. Output per input line: the line, then every token of the sequence
(prompt and continuation, without [CLS]/[SEP]) concatenated, then a blank line."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.atomic import atomic_open  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer  # noqa: E402
from uer.tools.common import (cpu_precision, load_parts, model_parser, precision_opts,  # noqa: E402
                              read_lines, resolve_model_args)
from uer.tools.kv_cache import CachedDecoder, supports_cache  # noqa: E402
from uer.tools.runner import Body  # noqa: E402
from uer.tools.sampling import generate_batch, generate_uncached  # noqa: E402

LM_PREFIXES = ("embedding.", "encoder.", "target.output_layer.")


def build_parser():
    parser = model_parser(__doc__)
    parser.set_defaults(encoder="gpt", vocab_path="models/google_vocab.txt")
    parser.add_argument("--pretrained_model_path", required=True, help="LM checkpoint.")
    parser.add_argument("--input_path", required=True, help="Prompts, one per line.")
    parser.add_argument("--output_path", required=True, help="Generated text.")
    parser.add_argument("--seq_length", type=int, default=128,
                        help="Longest sequence, prompt included ([CLS] counts).")
    parser.add_argument("--top_k", type=int, default=0, help="Keep the k most likely (0: all).")
    parser.add_argument("--top_p", type=float, default=0.6, help="Nucleus probability.")
    parser.add_argument("--temperature", type=float, default=1.0, help="Softmax temperature.")
    parser.add_argument("--target", choices=["lm"], default="lm", help="Target of the model.")
    parser.add_argument("--seed", type=int, default=7,
                        help="Sampling seed (line i draws from a generator seeded seed + i).")
    parser.add_argument("--batch_size", type=int, default=8,
                        help="Lines continued together (with the cache; results do not depend "
                             "on it).")
    parser.add_argument("--no_cache", action="store_true",
                        help="Run the whole sequence for every token (UER-py's loop; slower; the "
                             "same tokens up to rounding).")
    parser.add_argument("--no_cls", action="store_true",
                        help="Do not put [CLS] before the prompt (UER-py did not).")
    precision_opts(parser)
    return parser


def check(args):
    if args.temperature <= 0:
        raise UerError(f"--temperature must be positive, got {args.temperature}")
    if not 0.0 < args.top_p <= 1.0:
        raise UerError(f"--top_p must be in (0, 1], got {args.top_p}")
    if args.top_k < 0:
        raise UerError(f"--top_k must be at least 0, got {args.top_k}")


@cli_main
def main(argv=None):
    args = resolve_model_args(build_parser(), argv, positive=("batch_size",), seq_length_min=2)
    check(args)
    vocab, tokenizer = args.vocab, build_tokenizer(args)
    lines = [line for line in read_lines(args.input_path) if line.strip()]
    if not lines:
        raise UerError(f"{args.input_path}: no non-empty line (--input_path)")
    model = Body(args, with_target=True)
    load_parts(model, args.pretrained_model_path, LM_PREFIXES)
    model.eval()
    cached = not args.no_cache and supports_cache(model)
    decoder = CachedDecoder(model, max_length=args.seq_length) if cached else None
    sampling = {"top_k": args.top_k, "top_p": args.top_p, "temperature": args.temperature}
    hidden_ids = {vocab.cls_id, vocab.sep_id, vocab.pad_id}
    prompts = []
    for line in lines:
        prompt = ([] if args.no_cls else [vocab.cls_id]) + tokenizer.encode(line)
        prompts.append(prompt[:args.seq_length] or [vocab.cls_id])
    # One generator per line: a line's continuation does not depend on the batching.
    generators = [torch.Generator().manual_seed(args.seed + i) for i in range(len(lines))]
    results = []
    with cpu_precision(args).autocast():
        if cached:
            for start in range(0, len(prompts), args.batch_size):
                end = start + args.batch_size
                results += generate_batch(model, prompts[start:end], args.seq_length,
                                          generators[start:end], vocab.sep_id, decoder=decoder,
                                          **sampling)
        else:
            results = [generate_uncached(model, prompt, args.seq_length, generator, vocab.sep_id,
                                         **sampling)
                       for prompt, generator in zip(prompts, generators)]
    with atomic_open(args.output_path) as out:
        for line, ids in zip(lines, results):
            text = "".join(vocab.i2w[i] for i in ids if i not in hidden_ids)
            out.write(f"{line}\n{text}\n\n")
    print(f"{len(lines)} prompts -> {args.output_path}" + ("" if cached else " (no cache)"))


if __name__ == "__main__":
    main()
