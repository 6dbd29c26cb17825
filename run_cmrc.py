"""Fine-tune a pre-trained model for span-extraction reading comprehension (CMRC2018)."""
from uer.errors import cli_main
from uer.finetune.cli import finetune_opts, initialise, resolve
from uer.finetune.engine import Engine
from uer.finetune.tasks.cmrc import (DEFAULT_PARTIAL_ANSWER, PARTIAL_ANSWER_CHOICES, CmrcTask,
                                     MachineReadingComprehension, cmrc_opts, read_cmrc)
from uer.heap import limit_heap_fragmentation
from uer.opts import new_parser
from uer.seed import set_seed


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--train_path", type=str, required=True,
                        help="Training JSON (SQuAD format).")
    parser.add_argument("--dev_path", type=str, required=True, help="Development JSON.")
    parser.add_argument("--test_path", type=str, default=None, help="Test JSON (optional).")
    finetune_opts(parser, "./models/cmrc_model.bin", batch_size=64, seq_length=100,
                  dropout=0.5, epochs_num=3, learning_rate=3e-5, tokenizer=False, pooling=False)
    cmrc_opts(parser)
    parser.add_argument("--partial_answer", choices=PARTIAL_ANSWER_CHOICES,
                        default=DEFAULT_PARTIAL_ANSWER,
                        help="Training label of a window holding only part of the answer: clip = "
                             "point at the part inside the window (UER-py); cls = point at [CLS].")
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    task = CmrcTask(args.vocab, args.seq_length, args.doc_stride, args.max_answer_length,
                    args.partial_answer)
    limit_heap_fragmentation()  # bounded peak memory on long windows (see cmrc.py)
    set_seed(args.seed)
    train = read_cmrc(args.train_path, args.vocab, args.seq_length, answers="train")
    dev = read_cmrc(args.dev_path, args.vocab, args.seq_length, answers="eval")
    test = None
    if args.test_path:
        test = read_cmrc(args.test_path, args.vocab, args.seq_length, answers="eval")
    model = initialise(MachineReadingComprehension(args), args)
    Engine(args, task, model).fit(train, dev, test)


if __name__ == "__main__":
    main()
