"""Merge a JSON config into parsed options: an option typed on the command line wins, then the
config value, then the parser default (UER-py let the config win; see README). A model loaded by
the command line that has a JSON sidecar gives the defaults instead of the default config
(uer.sidecar)."""
import json
import os

from uer.errors import UerError
from uer.sidecar import find_sidecar


def explicit_dests(parser, argv):
    """The ``dest`` of every option the user typed in ``argv``."""
    by_flag = {}
    for action in parser._actions:
        for flag in action.option_strings:
            by_flag[flag] = action.dest
    given = set()
    for token in argv:
        if token.startswith("-"):
            flag = token.split("=", 1)[0]
            if flag in by_flag:
                given.add(by_flag[flag])
    return given


def load_config(path):
    if not os.path.isfile(path):
        raise UerError(f"{path}: config file not found (--config_path)")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except json.JSONDecodeError as err:
        raise UerError(f"{path}:{err.lineno}: config is not valid JSON ({err.msg})") from None
    if not isinstance(config, dict):
        raise UerError(f"{path}: config must be a JSON object")
    return config


def parse_with_config(parser, argv=None):
    """Parse ``argv`` and merge ``args.config_path`` (if the parser has it) into the namespace."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    given = explicit_dests(parser, argv)
    # The loaded model's own JSON (uer.sidecar) replaces the default --config_path.
    sidecar = find_sidecar(args)
    config_path = getattr(args, "config_path", None)
    config_keys = set()
    if config_path and (sidecar is None or "config_path" in given):
        for key, value in load_config(config_path).items():
            if key not in given:
                setattr(args, key, value)
                config_keys.add(key)
    if sidecar is not None:
        sidecar.apply(args, given, config_keys, config_path)
    return args
