"""Fine-tune a pre-trained model for multiple-choice reading comprehension (C3)."""
from uer.errors import cli_main
from uer.finetune.cli import build_tokenizer, finetune_opts, initialise, resolve
from uer.finetune.engine import Engine
from uer.finetune.tasks.c3 import C3Task, ChoiceEncoder, MultipleChoice, check_max_choices, read_c3
from uer.opts import new_parser
from uer.seed import set_seed


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--train_path", type=str, required=True, help="Training C3 JSON.")
    parser.add_argument("--dev_path", type=str, required=True, help="Development C3 JSON.")
    parser.add_argument("--test_path", type=str, default=None,
                        help="Test C3 JSON with answers (optional).")
    finetune_opts(parser, "./models/multichoice_model.bin", batch_size=32, seq_length=512,
                  dropout=0.2, epochs_num=8, pooling=False)
    parser.add_argument("--max_choices_num", type=int, default=4,
                        help="Most choices a question may have; fewer are padded and masked.")
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    check_max_choices(args.max_choices_num)
    set_seed(args.seed)
    encoder = ChoiceEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    train = read_c3(args.train_path, encoder, args.max_choices_num)
    dev = read_c3(args.dev_path, encoder, args.max_choices_num)
    test = read_c3(args.test_path, encoder, args.max_choices_num) if args.test_path else None
    model = initialise(MultipleChoice(args), args)
    Engine(args, C3Task(args.max_choices_num), model).fit(train, dev, test)


if __name__ == "__main__":
    main()
