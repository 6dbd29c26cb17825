"""Helpers shared by the model utilities in scripts/: raw checkpoint reading and atomic writing,
building a model from --config_path + the model options, and tokenising input lines."""
import os
from collections.abc import Mapping

import torch

from uer import opts
from uer.config import bounded, parse_with_config
from uer.errors import UerError
from uer.finetune.cli import check_positions
from uer.outputs import check_outputs
from uer.tensorfile import read_tensors, write_tensors
from uer.vocab import load_vocab


TOOL_OUTPUTS = ("output_path", "output_word_embedding_path", "output_model_path")


def read_raw_state_dict(path, option=None):
    """key -> tensor of a checkpoint, keys as stored (no prefix stripped), weights_only."""
    where = f"{path}" + (f" ({option})" if option else "")
    state = read_tensors(path, option)
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UerError(f"{where}: not a model checkpoint (expected a state dict of tensors)")
    return dict(state)


def save_state_dict(state, path):
    """A key -> tensor dict written atomically (the file appears only when complete); as
    safetensors when the path ends in .safetensors."""
    write_tensors(state, path)


def model_parser(description, config_default="./models/bert_base_config.json", tokenizer=True):
    """A parser with --vocab_path/--spm_model_path, --config_path and the model options."""
    parser = opts.new_parser(description)
    opts.vocab_opts(parser)
    opts.config_opts(parser, default=config_default)
    opts.model_opts(parser)
    if tokenizer:
        opts.tokenizer_opts(parser)
    return parser


def precision_opts(parser):
    """--fp16 / --fp16_opt_level / --amp_dtype for the utilities that run the model."""
    opts.fp16_opts(parser)


def cpu_precision(args):
    """``uer.amp.Precision`` of the CPU run: with --fp16, bf16 autocast on CPUs with native bf16
    (fp32 with a notice elsewhere), as in pre-training and fine-tuning."""
    from uer.amp import build_precision

    return build_precision(args, torch.device("cpu"))


def resolve_model_args(parser, argv=None, positive=("batch_size",), seq_length_min=2):
    """Parse with the config merged (typed options win), check the numbers, load the vocab;
    dropout is 0 (these tools only run the model)."""
    # Ranges declared on the options, checked by parse_with_config like every script's.
    for name in positive:
        if f"--{name}" in parser._option_string_actions:
            bounded(parser, f"--{name}", minimum=1)
    if "--seq_length" in parser._option_string_actions:
        bounded(parser, "--seq_length", minimum=seq_length_min)
    args = parse_with_config(parser, argv)
    check_outputs(args, TOOL_OUTPUTS)
    if getattr(args, "seq_length", None) is not None:
        check_positions(args)
    args.dropout = 0.0
    args.vocab = load_vocab(args)
    return args


def load_parts(model, path, prefixes=("embedding.", "encoder.")):
    """Load the keys under ``prefixes`` from ``path``; every model key there must be present."""
    from uer.checkpoint import load_model

    report = load_model(model, path, prefixes=prefixes, verbose=False)
    if not report.loaded:
        raise UerError(f"{path}: no {'/'.join(p.rstrip('.') for p in prefixes)} weight matches "
                       "the model (check --config_path and the model options)")
    if report.missing:
        shown = ", ".join(report.missing[:3]) + (", ..." if len(report.missing) > 3 else "")
        raise UerError(f"{path}: {len(report.missing)} model parameters are not in the "
                       f"checkpoint ({shown}); check --config_path and the model options")
    return report


def read_lines(path, option="--input_path"):
    """The lines of a UTF-8 text file, without their line ends."""
    if not os.path.isfile(path):
        raise UerError(f"{path}: file not found ({option})")
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except UnicodeDecodeError:
        raise UerError(f"{path}: not valid UTF-8 ({option})") from None
