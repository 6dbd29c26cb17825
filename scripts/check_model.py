"""Check that a checkpoint fits the model built from --config_path and the model options:
wrapper prefixes, missing / unexpected / shape-mismatched keys, parameter counts and the heads it
holds. Exit status 1 when it does not fit."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.checkpoint import WRAPPER_PREFIXES  # noqa: E402
from uer.config import parse_with_config  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.model import build_embedding, build_encoder, build_model  # noqa: E402
from uer.targets import str2target  # noqa: E402
from uer.tools.common import model_parser, read_raw_state_dict  # noqa: E402
from uer.vocab import load_vocab  # noqa: E402

BODY_PREFIXES = ("embedding.", "encoder.")
# (key prefix, head name), first match wins.
HEADS = [
    ("target.mlm_linear_", "mlm"), ("target.layer_norm.", "mlm"),
    ("target.nsp_linear_", "nsp"), ("target.sop_linear_", "sop"),
    ("target.output_layer.", "lm/bilm output_layer"),
    ("target.linear_", "cls"), ("target.linear.", "nsp (standalone)"),
    ("output_layers_1.", "mt_classifier output_layers_*"),
    ("output_layers_2.", "mt_classifier output_layers_*"),
    ("output_layer_1.", "classifier/cmrc output_layer_1"),
    ("output_layer_2.", "classifier/cmrc output_layer_2"),
    ("output_layer.", "ner/c3 output_layer"),
    ("crf.", "ner crf"),
]


def build_parser():
    parser = model_parser(__doc__, config_default="./models/bert_base_config.json",
                          tokenizer=False)
    parser.add_argument("--input_model_path", required=True, help="Checkpoint to check.")
    parser.add_argument("--target", choices=[*str2target, "none"], default="bert",
                        help="Pre-training head the checkpoint should hold; none = check the "
                             "embedding and encoder only (fine-tuned models: heads are listed).")
    parser.add_argument("--labels_num", type=int, default=2, help="Labels of --target cls.")
    parser.add_argument("--tie_weights", action="store_true",
                        help="The model ties the output layer to the word embedding.")
    return parser


def head_names(keys):
    found = {}
    for key in keys:
        for prefix, name in HEADS:
            if key.startswith(prefix):
                found.setdefault(name, []).append(key)
                break
    return found


def check(state, model, target):
    """A dict describing how ``state`` fits ``model``."""
    prefixes = {}
    cleaned = {}
    for key, value in state.items():
        stripped = key
        for prefix in WRAPPER_PREFIXES:
            if stripped.startswith(prefix):
                prefixes[prefix] = prefixes.get(prefix, 0) + 1
                stripped = stripped[len(prefix):]
        cleaned[stripped] = value
    expected = model.state_dict()
    outside = [] if target != "none" else [k for k in cleaned if not k.startswith(BODY_PREFIXES)]
    considered = {k: v for k, v in cleaned.items() if k not in outside}
    return {
        "prefixes": prefixes,
        "missing": [k for k in expected if k not in considered],
        "unexpected": [k for k in considered if k not in expected],
        "mismatched": [(k, list(v.shape), list(expected[k].shape)) for k, v in considered.items()
                       if k in expected and expected[k].shape != v.shape],
        "heads": head_names(cleaned),
        "checkpoint_params": sum(v.numel() for v in cleaned.values()),
        "model_params": sum(p.numel() for p in model.parameters()),
        "tensors": len(cleaned),
        "considered": considered,
    }


def listing(keys, limit=10):
    lines = [f"    {k}" for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f"    ... ({len(keys) - limit} more)")
    return lines


def build_body(args):
    """embedding + encoder only (--target none)."""
    from torch import nn

    body = nn.Module()
    body.embedding = build_embedding(args)
    body.encoder = build_encoder(args)
    return body


@cli_main
def main(argv=None):
    args = parse_with_config(build_parser(), argv)
    args.dropout = 0.0
    args.vocab = load_vocab(args)
    state = read_raw_state_dict(args.input_model_path, "--input_model_path")
    model = build_body(args) if args.target == "none" else build_model(args)
    result = check(state, model, args.target)
    lines = [f"Checkpoint: {args.input_model_path} ({result['tensors']} tensors, "
             f"{result['checkpoint_params']:,} parameters)",
             f"Model: embedding {args.embedding}, encoder {args.encoder}, target {args.target} "
             f"({result['model_params']:,} parameters, vocabulary {len(args.vocab)})"]
    if result["prefixes"]:
        for prefix, count in result["prefixes"].items():
            lines.append(f"Prefix '{prefix}' on {count} keys (stripped when loading; "
                         "scripts/multi_single_convert.py --delete_module_prefix removes it)")
    else:
        lines.append("Prefix: none")
    heads = result["heads"]
    lines.append("Heads: " + (", ".join(f"{name} ({len(keys)} tensors)"
                                        for name, keys in heads.items()) if heads else "none"))
    for label, keys in (("Missing", result["missing"]), ("Unexpected", result["unexpected"])):
        lines.append(f"{label} keys: {len(keys)}")
        lines.extend(listing(keys))
    lines.append(f"Shape mismatches: {len(result['mismatched'])}")
    lines.extend(listing([f"{k}: checkpoint {a}, model {b}" for k, a, b in result["mismatched"]]))
    problems = len(result["missing"]) + len(result["unexpected"]) + len(result["mismatched"])
    print("\n".join(lines))
    if problems:
        raise UerError(f"{args.input_model_path} does not fit the model ("
                       f"{len(result['missing'])} missing, {len(result['unexpected'])} unexpected, "
                       f"{len(result['mismatched'])} shape mismatches)")
    model.load_state_dict(result["considered"], strict=True)
    print("OK: the checkpoint fits the model (strict load)")


if __name__ == "__main__":
    main()
