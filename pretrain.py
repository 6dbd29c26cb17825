"""Pre-train a model on a dataset written by preprocess.py (options as UER-py's pretrain.py).

Example:
    python3 pretrain.py --dataset_path dataset.pt --vocab_path models/google_zh_vocab.txt \
        --output_model_path models/output_model.bin --config_path models/bert_tiny_config.json \
        --total_steps 10000 --save_checkpoint_steps 5000 --target bert
"""
from uer.config import bounded, parse_with_config
from uer.errors import cli_main
from uer.heldout import DEV_INSTANCES
from uer.constants import INSTANCES_BUFFER_SIZE
from uer.logging_sinks import check_sinks, log_opts
from uer.opts import (accumulation_opts, config_opts, device_opts, masking_opts,
                      max_grad_norm_opts, model_opts, new_parser, optimizer_opts, vocab_opts)
from uer.targets import str2target
from uer.vocab import load_vocab


def build_parser():
    parser = new_parser("Pre-train an UER model (embedding -> encoder -> target).")

    paths = parser.add_argument_group("paths")
    paths.add_argument("--dataset_path", type=str, default="dataset.pt",
                       help="Dataset written by preprocess.py.")
    vocab_opts(paths)
    paths.add_argument("--pretrained_model_path", type=str, default=None,
                       help="Checkpoint to continue from (incremental pre-training).")
    paths.add_argument("--output_model_path", type=str, required=True,
                       help="Final model; checkpoints go to <path>-<step>.")
    config_opts(paths, default="models/bert_base_config.json")
    paths.add_argument("--dev_dataset_path", type=str, default=None,
                       help="A dataset built by preprocess.py from held-out text (same target "
                            "and vocabulary): its loss and accuracy are reported every "
                            "--dev_steps steps and at the end (log file, TensorBoard 'dev/').")
    log_opts(paths)

    steps = parser.add_argument_group("training steps")
    steps.add_argument("--total_steps", type=int, default=100000,
                       help="Micro-batches to train on (per process).")
    steps.add_argument("--save_checkpoint_steps", type=int, default=10000,
                       help="Save <output_model_path>-<step> every this many steps.")
    steps.add_argument("--report_steps", type=int, default=100, help="Report every this many steps.")
    steps.add_argument("--dev_steps", type=int, default=None,
                       help="Evaluate --dev_dataset_path every this many steps "
                            "(default: --report_steps).")
    steps.add_argument("--dev_instances", type=int, default=DEV_INSTANCES,
                       help="Evaluate on the first this many instances of --dev_dataset_path.")
    accumulation_opts(steps)
    steps.add_argument("--batch_size", type=int, default=32, help="Instances per micro-batch per process.")
    steps.add_argument("--instances_buffer_size", type=int, default=INSTANCES_BUFFER_SIZE,
                       help="Loader shuffle window, in instances.")
    steps.add_argument("--group_by_length", action="store_true",
                       help="Batch instances of similar length together (within each shuffle "
                            "window, batch order shuffled), so less padding is computed. Off by "
                            "default: UER-py's batches are random.")
    steps.add_argument("--dropout", type=float, default=0.1, help="Dropout (the config's value is used "
                       "unless this option is typed).")
    steps.add_argument("--seed", type=int, default=7, help="Random seed.")
    steps.add_argument("--resume", action="store_true",
                       help="Continue an interrupted run from <output_model_path>.state (written "
                            "at every checkpoint); the other options must be the same.")

    model = parser.add_argument_group("model")
    model_opts(model)
    model.add_argument("--target", choices=str2target, default="bert",
                       help="Pre-training objective; must match the dataset.")
    model.add_argument("--tie_weights", action="store_true",
                       help="Share the output layer's weight with the word embedding.")

    masking = parser.add_argument_group("dynamic masking (datasets built with --dynamic_masking)")
    masking_opts(masking)

    optim = parser.add_argument_group("optimizer")
    optimizer_opts(optim, learning_rate=2e-5, betas=True)
    max_grad_norm_opts(optim)

    dist = parser.add_argument_group("devices and processes")
    device_opts(dist)
    # Ranges checked by parse_with_config, typed or from the config (trainer.check_step_options
    # checks the step options again for Python callers).
    for option in ("--total_steps", "--save_checkpoint_steps", "--report_steps",
                   "--batch_size", "--instances_buffer_size", "--dev_steps", "--dev_instances"):
        bounded(parser, option, minimum=1)
    bounded(parser, "--dropout", minimum=0, maximum=1)
    return parser


def parse_args(argv=None):
    args = parse_with_config(build_parser(), argv)
    check_sinks(args)
    args.vocab = load_vocab(args)
    return args


@cli_main
def main(argv=None):
    from uer.outputs import check_outputs
    from uer.trainer import train

    args = parse_args(argv)
    check_outputs(args, ["output_model_path"])  # before any step: a bad path loses no work
    train(args)


if __name__ == "__main__":
    main()
