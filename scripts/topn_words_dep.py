"""Context-dependent nearest words: in each ``sentence<TAB>word`` line, the word's first
position is replaced by every candidate word, and the candidates are ranked by the cosine
similarity of the last-layer hidden state at that position to the original sentence's."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer  # noqa: E402
from uer.tools.common import (cpu_precision, load_parts, model_parser, precision_opts,  # noqa: E402
                              read_lines, resolve_model_args)
from uer.tools.runner import Body, pad_batch  # noqa: E402
from uer.vocab import Vocab  # noqa: E402


def build_parser():
    parser = model_parser(__doc__)
    parser.set_defaults(tokenizer="space")
    parser.add_argument("--sent_path", required=True, help="Lines 'sentence<TAB>word'.")
    parser.add_argument("--cand_vocab_path", required=True, help="Candidate words, one per line.")
    parser.add_argument("--pretrained_model_path", required=True, help="Checkpoint.")
    parser.add_argument("--seq_length", type=int, default=128, help="Sequence length.")
    parser.add_argument("--layers_num", type=int, default=None,
                        help="Layers to run (default: all, from --config_path).")
    parser.add_argument("--batch_size", type=int, default=64, help="Batch size.")
    parser.add_argument("--topn", type=int, default=20, help="Neighbours per word.")
    precision_opts(parser)
    return parser


@cli_main
def main(argv=None):
    args = resolve_model_args(build_parser(), argv, positive=("batch_size", "topn"))
    if args.layers_num is None:
        raise UerError("config key 'layers_num' is required (set it in --config_path)")
    vocab, tokenizer = args.vocab, build_tokenizer(args)
    cand_tokens = Vocab.from_file(args.cand_vocab_path, validate=False).i2w
    cands = list(dict.fromkeys(t for t in cand_tokens if t in vocab))
    if not cands:
        raise UerError(f"{args.cand_vocab_path}: no candidate word is in the model vocabulary")
    cand_ids = torch.tensor([vocab.get(t) for t in cands])
    body = Body(args)
    load_parts(body, args.pretrained_model_path)
    body.eval()
    precision = cpu_precision(args)
    for line_no, line in enumerate(read_lines(args.sent_path, "--sent_path"), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UerError(f"{args.sent_path}:{line_no}: expected 'sentence<TAB>word'")
        sentence, word = fields[0], fields[1].strip()
        ids = ([vocab.cls_id] + tokenizer.encode(sentence))[:args.seq_length]
        word_id = vocab.get(word)
        position = next((i for i in range(1, len(ids))
                         if word_id is not None and ids[i] == word_id), None)
        print(f"Original sentence: {sentence}")
        print(f"Target word: {word}")
        if position is None:
            print(f"{args.sent_path}:{line_no}: '{word}' is not a token of the sentence "
                  "(within --seq_length)", file=sys.stderr)
            print()
            continue
        src, seg = pad_batch([ids], args.seq_length)
        sims = []
        with torch.inference_mode(), precision.autocast():
            reference = body(src, seg)[0, position].float()
            for start in range(0, len(cands), args.batch_size):
                chunk = cand_ids[start:start + args.batch_size]
                batch = src.repeat(len(chunk), 1)
                batch[:, position] = chunk
                hidden = body(batch, seg.repeat(len(chunk), 1))[:, position].float()
                sims.append(torch.cosine_similarity(hidden, reference[None], dim=-1))
        sims = torch.cat(sims)
        order = [i for i in sims.argsort(descending=True).tolist() if cands[i] != word]
        for index in order[:args.topn]:
            print(f"{cands[index]}\t{sims[index].item()}")
        print()


if __name__ == "__main__":
    main()
