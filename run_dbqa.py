"""Fine-tune for answer-sentence selection (DBQA): question + candidate, grouped by qid."""
from uer.errors import cli_main
from uer.finetune.cli import build_tokenizer, finetune_opts, initialise, resolve
from uer.finetune.encoding import PairEncoder
from uer.finetune.engine import Engine
from uer.finetune.heads import Classifier
from uer.finetune.tasks.dbqa import DbqaTask, read_dbqa
from uer.opts import new_parser, soft_target_opts
from uer.seed import set_seed


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--train_path", type=str, required=True, help="Training TSV.")
    parser.add_argument("--dev_path", type=str, required=True, help="Development TSV.")
    parser.add_argument("--test_path", type=str, default=None, help="Test TSV (optional).")
    finetune_opts(parser, "./models/dbqa_model.bin", batch_size=32, seq_length=128,
                  dropout=0.5, epochs_num=3)
    soft_target_opts(parser)  # parsed as in UER-py; DBQA trains on labels only
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    set_seed(args.seed)
    encoder = PairEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    train = read_dbqa(args.train_path, encoder)
    dev = read_dbqa(args.dev_path, encoder)
    test = read_dbqa(args.test_path, encoder) if args.test_path else None
    model = initialise(Classifier(args, 2), args)
    Engine(args, DbqaTask(), model).fit(train, dev, test)


if __name__ == "__main__":
    main()
