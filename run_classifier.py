"""Fine-tune a pre-trained model for sentence or sentence-pair classification."""
from uer.config import bounded
from uer.errors import cli_main
from uer.finetune.cli import build_tokenizer, finetune_opts, initialise, resolve
from uer.finetune.encoding import PairEncoder
from uer.finetune.engine import Engine
from uer.finetune.heads import Classifier
from uer.finetune.tasks.classifier import (ClassificationTask, check_logits_width, count_labels,
                                           read_classification)
from uer.opts import new_parser, soft_target_opts
from uer.seed import set_seed


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--train_path", type=str, required=True, help="Training TSV.")
    parser.add_argument("--dev_path", type=str, required=True, help="Development TSV.")
    parser.add_argument("--test_path", type=str, default=None, help="Test TSV (optional).")
    finetune_opts(parser, "./models/classifier_model.bin", batch_size=64, seq_length=128,
                  dropout=0.5, epochs_num=3)
    soft_target_opts(parser)
    parser.add_argument("--labels_num", type=int, default=None,
                        help="Number of labels; default: the training labels, which must then be "
                             "0..n-1 with every id present.")
    bounded(parser, "--labels_num", minimum=2)
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    set_seed(args.seed)
    encoder = PairEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    if args.labels_num is not None:
        # Explicit: labels may be absent from the training file, none may reach labels_num.
        train = read_classification(args.train_path, encoder, logits=args.soft_targets,
                                    labels_num=args.labels_num)
        labels_num = args.labels_num
    else:
        lines = {}
        train = read_classification(args.train_path, encoder, logits=args.soft_targets,
                                    label_lines=lines)
        labels_num = count_labels(train, args.train_path, lines,
                                  hint=" (or give --labels_num to allow absent labels)")
    if args.soft_targets:
        check_logits_width(train, labels_num, args.train_path)
    dev = read_classification(args.dev_path, encoder, labels_num=labels_num)
    test = None
    if args.test_path:
        test = read_classification(args.test_path, encoder, labels_num=labels_num)
    model = initialise(Classifier(args, labels_num), args)
    task = ClassificationTask(labels_num, args.soft_targets, args.soft_alpha)
    Engine(args, task, model).fit(train, dev, test)


if __name__ == "__main__":
    main()
