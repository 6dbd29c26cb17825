"""Average several checkpoints of one model (element-wise mean of their parameters)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from uer.checkpoint import WRAPPER_PREFIXES  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.outputs import check_outputs  # noqa: E402
from uer.opts import new_parser  # noqa: E402
from uer.sidecar import copy_sidecar  # noqa: E402
from uer.tools.common import read_raw_state_dict, save_state_dict  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--model_list_path", nargs="+", required=True,
                        help="Checkpoints to average (same keys and shapes).")
    parser.add_argument("--output_model_path", required=True, help="Averaged checkpoint.")
    return parser


def strip_prefix(key):
    for prefix in WRAPPER_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def average_state_dicts(paths):
    """Mean of the checkpoints at ``paths`` (computed in float64, stored in each key's dtype).
    Every file must have the first one's keys (a ``module.`` prefix is ignored) and shapes."""
    first_path, states = paths[0], []
    for path in paths:
        states.append({strip_prefix(k): v for k, v in read_raw_state_dict(path).items()})
    reference = states[0]
    for path, state in zip(paths[1:], states[1:]):
        missing = [k for k in reference if k not in state]
        extra = [k for k in state if k not in reference]
        if missing or extra:
            key, where = (missing[0], f"in {first_path} but not in {path}") if missing else (
                extra[0], f"in {path} but not in {first_path}")
            count = len(missing) + len(extra)
            raise UerError(f"key '{key}' is {where} ({count} differing keys): the checkpoints "
                           "are not of the same model")
        for key, value in reference.items():
            if state[key].shape != value.shape:
                raise UerError(f"key '{key}' has shape {list(value.shape)} in {first_path} but "
                               f"{list(state[key].shape)} in {path}")

    def place(tensor):
        return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))

    averaged, first_key_at = {}, {}
    for key, value in reference.items():
        # Tied parameters (one storage under two keys in every file) stay one tensor.
        twin = first_key_at.setdefault(place(value), key)
        if twin != key and all(place(s[key]) == place(s[twin]) for s in states):
            averaged[key] = averaged[twin]
            continue
        if value.is_floating_point():
            total = torch.zeros(value.shape, dtype=torch.float64)
            for state in states:
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(states)).to(value.dtype)
        else:  # integer buffers: must agree
            for path, state in zip(paths[1:], states[1:]):
                if not torch.equal(state[key], value):
                    raise UerError(f"key '{key}' is an integer tensor that differs between "
                                   f"{first_path} and {path}; it cannot be averaged")
            averaged[key] = value.clone()
    return averaged


@cli_main
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_outputs(args, ["output_model_path"])
    averaged = average_state_dicts(args.model_list_path)
    save_state_dict(averaged, args.output_model_path)
    copy_sidecar(args.model_list_path[0], args.output_model_path)
    print(f"Averaged {len(args.model_list_path)} checkpoints ({len(averaged)} tensors) -> "
          f"{args.output_model_path}")


if __name__ == "__main__":
    main()
