"""Options and ``main`` functions of the four converter scripts (scripts/convert_bert_*.py).

Each ``main(argv=None)`` turns a UerError into ``error: ...`` and exit status 1
(uer.errors.cli_main), so a bad input never leaves a half-written output.
"""
import os

from uer import opts
from uer.convert import layernorm
from uer.convert.bert_keys import TARGETS
from uer.convert.uer_model import (default_config_path, read_uer, read_uer_config, sizes_of,
                                   write_uer)
from uer.errors import UerError, cli_main
from uer.outputs import check_outputs
from uer.vocab import Vocab


def _common(parser, into_uer):
    parser.add_argument("--layers_num", type=int, default=None,
                        help="Number of transformer layers; read from the checkpoint when "
                             "omitted, an error when it disagrees with it.")
    parser.add_argument("--target", choices=TARGETS, default="bert",
                        help="Heads to convert: bert = MLM + NSP (pooler), mlm = MLM only. "
                             "Heads absent from the source are skipped with a note.")
    if into_uer:
        parser.add_argument("--output_config_path", default=None,
                            help="UER config JSON to write; when omitted, the output model "
                                 "path without its suffix + _config.json.")
        parser.add_argument("--layernorm", choices=layernorm.INTO_UER_CHOICES, default="standard",
                            help="standard: keep the source's LayerNorm formula (the UER config "
                                 "gets \"layernorm\": \"standard\"; exact); uer: rescale gammas "
                                 "for UER-py's formula (approximate; for UER-py itself).")
    else:
        parser.add_argument("--config_path", default="./models/bert_base_config.json",
                            help="UER config of the input model: heads_num, hidden_act, dropout "
                                 "and the LayerNorm formula come from it; its sizes must match "
                                 "the checkpoint.")
        parser.add_argument("--uer_layernorm", choices=layernorm.OUT_OF_UER_CHOICES,
                            default="rescale",
                            help="For a config with UER-py's LayerNorm formula (no "
                                 "\"layernorm\": \"standard\"): rescale gammas so the target "
                                 "computes like UER, or copy them unchanged.")
        parser.add_argument("--vocab_path", default=None,
                            help="Vocabulary copied beside the output as vocab.txt.")


def _write_into_uer(state, config, args):
    write_uer(state, config, args.output_model_path,
              args.output_config_path or default_config_path(args.output_model_path), args.target)


def _read_out_of_uer(args):
    if args.vocab_path and not os.path.isfile(args.vocab_path):
        raise UerError(f"{args.vocab_path}: vocabulary file not found (--vocab_path)")
    state, layers = read_uer(args.input_model_path, args.layers_num)
    sizes = sizes_of(state, layers)
    config = read_uer_config(args.config_path, sizes)
    if args.vocab_path:
        tokens = len(Vocab.from_file(args.vocab_path, validate=False))
        if tokens != sizes["vocab_size"]:
            raise UerError(f"{args.vocab_path}: {tokens} tokens but the model's vocabulary has "
                           f"{sizes['vocab_size']} (--vocab_path)")
    return state, config, layers


def _check_outputs(args):
    """The model (a folder for HuggingFace unless it names a file) and config outputs."""
    model = args.output_model_path
    as_file = (model.endswith((".bin", ".safetensors", ".ckpt"))
               or not hasattr(args, "weights_format"))
    check_outputs(args, ["output_model_path", "output_config_path"],
                  kinds={"output_model_path": "file" if as_file else "dir"})


@cli_main
def huggingface_to_uer(argv=None):
    from uer.convert.huggingface import hf_to_uer, load_hf

    parser = opts.new_parser("Convert a HuggingFace BERT model to a UER checkpoint and config.")
    parser.add_argument("--input_model_path", required=True,
                        help="pytorch_model.bin, model.safetensors, or a model directory.")
    parser.add_argument("--output_model_path", required=True, help="UER checkpoint to write.")
    parser.add_argument("--hf_config_path", default=None,
                        help="HuggingFace config.json; when omitted, the one beside the "
                             "weights, if any.")
    parser.add_argument("--heads_num", type=int, default=None,
                        help="Attention heads, needed only when there is no config.json.")
    _common(parser, into_uer=True)
    args = parser.parse_args(argv)
    _check_outputs(args)
    hf_state, hf_config, weights = load_hf(args.input_model_path, args.hf_config_path)
    state, config = hf_to_uer(hf_state, hf_config, args.target, args.layers_num, args.heads_num,
                              args.layernorm, source=weights)
    _write_into_uer(state, config, args)


@cli_main
def uer_to_huggingface(argv=None):
    from uer.convert.huggingface import uer_to_hf, write_hf

    parser = opts.new_parser("Convert a UER BERT checkpoint to a HuggingFace model directory.")
    parser.add_argument("--input_model_path", required=True, help="UER checkpoint.")
    parser.add_argument("--output_model_path", required=True,
                        help="Model directory to write (or a path ending in .bin / "
                             ".safetensors: that file, with config.json beside it).")
    parser.add_argument("--weights_format", choices=["safetensors", "bin"],
                        default="safetensors",
                        help="Weights file in the output directory: model.safetensors or "
                             "pytorch_model.bin.")
    _common(parser, into_uer=False)
    args = parser.parse_args(argv)
    _check_outputs(args)
    state, config, layers = _read_out_of_uer(args)
    hf_state, hf_config = uer_to_hf(state, config, layers, args.target, args.uer_layernorm,
                                    source=args.input_model_path)
    write_hf(hf_state, hf_config, args.output_model_path, args.weights_format, args.vocab_path)



@cli_main
def google_to_uer(argv=None):
    from uer.convert.google import google_to_uer as convert, import_tf, load_google

    parser = opts.new_parser("Convert a Google BERT TensorFlow checkpoint to a UER checkpoint "
                             "and config (needs tensorflow-cpu).")
    parser.add_argument("--input_model_path", default="models/bert_base_chinese/bert_model.ckpt",
                        help="Checkpoint prefix (bert_model.ckpt for bert_model.ckpt.index and "
                             ".data-*), its .index file, or its folder.")
    parser.add_argument("--output_model_path", required=True, help="UER checkpoint to write.")
    parser.add_argument("--bert_config_path", default=None,
                        help="Google's bert_config.json; when omitted, the one beside the "
                             "checkpoint, if any.")
    parser.add_argument("--heads_num", type=int, default=None,
                        help="Attention heads, needed only when there is no bert_config.json.")
    _common(parser, into_uer=True)
    args = parser.parse_args(argv)
    _check_outputs(args)
    import_tf()  # before any work: a missing TensorFlow is the first thing to report
    variables, bert_config, prefix = load_google(args.input_model_path, args.bert_config_path)
    state, config = convert(variables, bert_config, args.target, args.layers_num,
                            args.heads_num, args.layernorm, source=prefix)
    _write_into_uer(state, config, args)


@cli_main
def uer_to_google(argv=None):
    from uer.convert.google import (import_tf, uer_to_google as convert, write_google,
                                    write_google_config)

    parser = opts.new_parser("Convert a UER BERT checkpoint to a Google BERT TensorFlow "
                             "checkpoint and bert_config.json (needs tensorflow-cpu).")
    parser.add_argument("--input_model_path", default="models/google_model.bin",
                        help="UER checkpoint.")
    parser.add_argument("--output_model_path", default="models/bert_base_chinese.ckpt",
                        help="Checkpoint prefix to write (.index and .data-* files).")
    parser.add_argument("--output_config_path", default=None,
                        help="bert_config.json to write; when omitted, beside the checkpoint.")
    _common(parser, into_uer=False)
    args = parser.parse_args(argv)
    _check_outputs(args)
    import_tf()
    state, config, layers = _read_out_of_uer(args)
    variables, bert_config = convert(state, config, layers, args.target, args.uer_layernorm,
                                     source=args.input_model_path)
    write_google(variables, args.output_model_path)
    config_path = args.output_config_path or os.path.join(
        os.path.dirname(os.path.abspath(args.output_model_path)), "bert_config.json")
    write_google_config(bert_config, config_path, args.vocab_path)
