"""Option groups and setup shared by the fine-tuning and inference scripts (SPEC §1.2, §1.5-1.6)."""
from uer import opts
from uer.checkpoint import init_weights, load_pretrained
from uer.config import parse_with_config
from uer.constants import MAX_POSITIONS
from uer.errors import UerError
from uer.vocab import load_vocab


def model_and_vocab_opts(parser, tokenizer=True, pooling=True):
    """Vocabulary, --config_path, the model group, and --tokenizer / --pooling where used."""
    opts.vocab_opts(parser)
    opts.config_opts(parser)
    opts.model_opts(parser)
    if tokenizer:
        opts.tokenizer_opts(parser)
    if pooling:
        opts.pooling_opts(parser)


def finetune_opts(parser, output_model_path, batch_size=64, seq_length=128, dropout=0.5,
                  epochs_num=3, learning_rate=2e-5, tokenizer=True, pooling=True):
    """Everything a run_* script has besides its data paths and task extras."""
    parser.add_argument("--pretrained_model_path", default=None, type=str,
                        help="Pre-trained model; only its embedding and encoder are loaded.")
    parser.add_argument("--output_model_path", default=output_model_path, type=str,
                        help="Where the best fine-tuned model is written.")
    model_and_vocab_opts(parser, tokenizer, pooling)
    parser.add_argument("--batch_size", type=int, default=batch_size, help="Batch size.")
    parser.add_argument("--seq_length", type=int, default=seq_length,
                        help="Longest input in tokens; longer inputs are cut.")
    opts.optimizer_opts(parser, learning_rate=learning_rate)
    opts.accumulation_opts(parser)
    opts.max_grad_norm_opts(parser)
    opts.training_opts(parser, dropout=dropout, epochs_num=epochs_num)
    opts.device_opts(parser)


def inference_opts(parser, batch_size=128, seq_length=128, tokenizer=True, pooling=True):
    parser.add_argument("--load_model_path", default=None, type=str, required=True,
                        help="Fine-tuned model to run.")
    model_and_vocab_opts(parser, tokenizer, pooling)
    parser.add_argument("--test_path", type=str, required=True, help="Input file.")
    parser.add_argument("--prediction_path", type=str, required=True, help="Output file.")
    parser.add_argument("--batch_size", type=int, default=batch_size, help="Batch size.")
    parser.add_argument("--seq_length", type=int, default=seq_length,
                        help="Longest input in tokens; longer inputs are cut.")
    opts.fp16_opts(parser)


def _check_positive(args, name, minimum=1):
    value = getattr(args, name, None)
    if value is not None and value < minimum:
        raise UerError(f"--{name} must be at least {minimum}, got {value}")


def resolve(parser, argv=None):
    """Parse (config merged: typed options win), check the numbers, load ``args.vocab``."""
    args = parse_with_config(parser, argv)
    for name in ("batch_size", "epochs_num", "report_steps", "accumulation_steps"):
        _check_positive(args, name)
    if getattr(args, "max_grad_norm", 0.0) < 0:
        raise UerError(f"--max_grad_norm must be at least 0 (0 = no clipping), got "
                       f"{args.max_grad_norm}")
    _check_positive(args, "seq_length", 3)  # [CLS] x [SEP]
    if getattr(args, "embedding", "bert") == "bert" and getattr(args, "seq_length", 0) > MAX_POSITIONS:
        raise UerError(f"--seq_length {args.seq_length} exceeds the {MAX_POSITIONS} positions of "
                       "the bert embedding")
    if getattr(args, "dropout", None) is None:
        args.dropout = 0.0
    if hasattr(args, "world_size"):  # device options checked before any file is read
        from uer.finetune.runtime import fine_tuning_layout

        args.process_layout = fine_tuning_layout(args)
    args.vocab = load_vocab(args)
    return args


def build_tokenizer(args):
    from uer.tokenizers import str2tokenizer

    return str2tokenizer[getattr(args, "tokenizer", "bert")](args)


def initialise(model, args):
    """Pre-trained embedding + encoder when --pretrained_model_path is given (the heads keep
    PyTorch's default init, as in UER-py); otherwise UER-py's N(0, 0.02) init everywhere."""
    if getattr(args, "pretrained_model_path", None):
        report = load_pretrained(model, args.pretrained_model_path)
        if not report.loaded:
            raise UerError(f"{args.pretrained_model_path}: no embedding or encoder weight matches "
                           "the model (check --embedding, --encoder and the model options)")
    else:
        init_weights(model)
    return model
