"""Remove or add the ``module.`` prefix that DataParallel / DDP checkpoints carry."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.errors import UerError, cli_main  # noqa: E402
from uer.outputs import check_outputs  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.sidecar import copy_sidecar  # noqa: E402
from uer.tools.common import read_raw_state_dict, save_state_dict  # noqa: E402

PREFIX = "module."


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--input_model_path", required=True, help="Checkpoint to convert.")
    parser.add_argument("--output_model_path", required=True, help="Converted checkpoint.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--delete_module_prefix", action="store_true",
                      help="Strip 'module.' (multi-GPU checkpoint -> single).")
    mode.add_argument("--add_module_prefix", action="store_true",
                      help="Add 'module.' (single checkpoint -> multi-GPU).")
    return parser


def convert(state, delete, path="<checkpoint>"):
    """New key -> tensor dict; keys already in the target form are kept as they are.
    Returns (state, number of keys changed)."""
    converted, changed = {}, 0
    for key, value in state.items():
        if delete and key.startswith(PREFIX):
            new_key, changed = key[len(PREFIX):], changed + 1
        elif not delete and not key.startswith(PREFIX):
            new_key, changed = PREFIX + key, changed + 1
        else:
            new_key = key
        if new_key in converted:
            raise UerError(f"{path}: keys '{key}' and '{new_key}' both become '{new_key}'")
        converted[new_key] = value
    return converted, changed


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_outputs(args, ["output_model_path"])
    state = read_raw_state_dict(args.input_model_path, "--input_model_path")
    converted, changed = convert(state, args.delete_module_prefix, args.input_model_path)
    save_state_dict(converted, args.output_model_path)
    copy_sidecar(args.input_model_path, args.output_model_path)
    action = "removed from" if args.delete_module_prefix else "added to"
    note = "" if changed == len(state) else f" ({len(state) - changed} already in that form)"
    print(f"'{PREFIX}' {action} {changed} of {len(state)} keys{note} -> {args.output_model_path}")


if __name__ == "__main__":
    main()
