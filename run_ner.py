"""Fine-tune a pre-trained model for sequence labelling (named entity recognition)."""
from uer.errors import cli_main
from uer.finetune.cli import finetune_opts, initialise, resolve
from uer.finetune.engine import Engine
from uer.finetune.tasks.ner import LabelMap, NerTagger, NerTask, read_ner
from uer.opts import new_parser
from uer.seed import set_seed


def crf_opts(parser):
    parser.add_argument("--crf_target", action="store_true",
                        help="Train a CRF layer on the tag scores (negative log-likelihood) and "
                             "decode with Viterbi.")


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--train_path", type=str, required=True, help="Training TSV.")
    parser.add_argument("--dev_path", type=str, required=True, help="Development TSV.")
    parser.add_argument("--test_path", type=str, default=None, help="Test TSV (optional).")
    parser.add_argument("--label2id_path", type=str, required=True,
                        help="JSON object mapping each tag to its id.")
    finetune_opts(parser, "./models/ner_model.bin", batch_size=32, seq_length=128,
                  dropout=0.1, epochs_num=3, tokenizer=False, pooling=False)
    crf_opts(parser)
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    set_seed(args.seed)
    label_map = LabelMap.from_file(args.label2id_path)
    train = read_ner(args.train_path, args.vocab, label_map, max_tokens=args.seq_length - 2)
    dev = read_ner(args.dev_path, args.vocab, label_map)
    test = read_ner(args.test_path, args.vocab, label_map) if args.test_path else None
    model = initialise(NerTagger(args, label_map.labels_num, crf=args.crf_target), args)
    task = NerTask(label_map, args.vocab, args.seq_length, crf=args.crf_target)
    Engine(args, task, model).fit(train, dev, test)


if __name__ == "__main__":
    main()
