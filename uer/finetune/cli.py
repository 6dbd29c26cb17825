"""Option groups and setup shared by the fine-tuning and inference scripts (SPEC §1.2, §1.5-1.6)."""
import sys

from uer import opts
from uer.checkpoint import init_weights, load_pretrained
from uer.config import bounded, parse_with_config
from uer.embeddings import str2embedding
from uer.errors import UerError
from uer.outputs import check_outputs
from uer.logging_sinks import check_sinks, log_opts
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
    sequence_bounds(parser)
    opts.optimizer_opts(parser, learning_rate=learning_rate)
    opts.accumulation_opts(parser)
    opts.max_grad_norm_opts(parser)
    opts.training_opts(parser, dropout=dropout, epochs_num=epochs_num)
    log_opts(parser)
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
    sequence_bounds(parser)
    opts.fp16_opts(parser)
    opts.compile_opts(parser)


FINETUNE_OUTPUTS = ("output_model_path", "prediction_path")


def sequence_bounds(parser):
    bounded(parser, "--batch_size", minimum=1)
    bounded(parser, "--seq_length", minimum=3)  # [CLS] x [SEP]


def resolve(parser, argv=None):
    """Parse (config merged: typed options win; parse_with_config checks the declared ranges
    of the options and config keys), check the length against the embedding, load ``args.vocab``."""
    args = parse_with_config(parser, argv)
    check_positions(args)
    if getattr(args, "dropout", None) is None:
        args.dropout = 0.0
    check_outputs(args, FINETUNE_OUTPUTS)  # before the data is read or a step is taken
    check_sinks(args)
    if hasattr(args, "world_size"):  # device options checked before any file is read
        from uer.finetune.runtime import fine_tuning_layout

        args.process_layout = fine_tuning_layout(args)
    args.vocab = load_vocab(args)
    return args


def check_positions(args):
    """--seq_length within the positions the embedding declares (``max_positions``, if any)."""
    name = getattr(args, "embedding", "bert")
    max_positions = getattr(str2embedding[name], "max_positions", None)
    if max_positions is not None and (getattr(args, "seq_length", None) or 0) > max_positions:
        raise UerError(f"--seq_length {args.seq_length} exceeds the {max_positions} positions of "
                       f"the {name} embedding")


def build_tokenizer(args):
    from uer.tokenizers import str2tokenizer

    # The vocabulary resolve() loaded and checked: the file is read once per run.
    return str2tokenizer[getattr(args, "tokenizer", "bert")](args, vocab=getattr(args, "vocab", None))


def warn_if_unigram_level(model_path):
    """A pre-trained model whose sidecar says it ended at unigram level maps every input to
    about the same vector: fine-tuning from it can do worse than random init. Say so once."""
    from uer.sidecar import read_sidecar

    check = (read_sidecar(model_path) or {}).get("learning_check")
    if isinstance(check, dict) and check.get("unigram_level"):
        print(f"Warning: {model_path} ended pre-training at unigram level ({check.get('measured_on')} "
              f"accuracy {check.get('accuracy')} after {check.get('steps')} steps, the unigram "
              f"guess {check.get('unigram_guess')}): it has learned no context, and fine-tuning "
              "from it may do worse than random initialisation", file=sys.stderr, flush=True)


def initialise(model, args):
    """Pre-trained embedding + encoder when --pretrained_model_path is given (the heads keep
    PyTorch's default init, as in UER-py); otherwise UER-py's N(0, 0.02) init everywhere."""
    if getattr(args, "pretrained_model_path", None):
        warn_if_unigram_level(args.pretrained_model_path)
        report = load_pretrained(model, args.pretrained_model_path)
        if not report.loaded:
            raise UerError(f"{args.pretrained_model_path}: no embedding or encoder weight matches "
                           "the model (check --embedding, --encoder and the model options)")
        for part, option in (("encoder.", "--encoder"), ("embedding.", "--embedding")):
            # e.g. --encoder lstm with a bert checkpoint: a random encoder would be fine-tuned.
            if any(k.startswith(part) for k in report.missing) and \
                    not any(k.startswith(part) for k in report.loaded):
                raise UerError(f"{args.pretrained_model_path}: the {part[:-1]} receives no "
                               f"pre-trained weight (none of its parameters is in the checkpoint; "
                               f"check {option} and the model options)")
    else:
        init_weights(model)
    return model
