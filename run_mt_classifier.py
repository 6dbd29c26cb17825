"""Multi-task classification: several datasets share one encoder, each has its own head."""
from uer.errors import UerError, cli_main
from uer.finetune.cli import build_tokenizer, finetune_opts, initialise, resolve
from uer.finetune.encoding import PairEncoder
from uer.finetune.engine import Engine
from uer.finetune.heads import MultiTaskClassifier
from uer.finetune.tasks.mt_classifier import MultiTaskClassificationTask, read_task_dirs
from uer.opts import new_parser


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--dataset_path_list", nargs="+", required=True,
                        help="Folders, one per task, each with train.tsv and dev.tsv.")
    finetune_opts(parser, "./models/multitask_classifier_model.bin", batch_size=32,
                  seq_length=128, dropout=0.5, epochs_num=3)
    # Parsed for compatibility with UER-py's command lines; multi-task training uses labels only.
    parser.add_argument("--soft_targets", action="store_true", help="Accepted, unused.")
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    from uer.seed import set_seed

    args = parse_args(argv)
    set_seed(args.seed)
    encoder = PairEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    tasks = read_task_dirs(args.dataset_path_list, encoder)
    names = [name for name, *_ in tasks]
    if len(set(names)) != len(names):
        raise UerError("--dataset_path_list: two folders have the same name; rename one")
    train = [ex for _, part, _, _ in tasks for ex in part]
    dev = [ex for _, _, part, _ in tasks for ex in part]
    labels_nums = [labels_num for *_, labels_num in tasks]
    model = initialise(MultiTaskClassifier(args, labels_nums), args)
    Engine(args, MultiTaskClassificationTask(names, labels_nums), model).fit(train, dev)


if __name__ == "__main__":
    main()
