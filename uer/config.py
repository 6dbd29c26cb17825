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


class Bounds:
    """The range of a numeric option: ``minimum`` (inclusive), ``above`` (exclusive) and
    ``maximum`` (inclusive); attached to the option's argparse action by ``bounded``."""

    def __init__(self, minimum=None, maximum=None, above=None):
        self.minimum, self.maximum, self.above = minimum, maximum, above

    def problem(self, value):
        """None when ``value`` is in range, else what it must be."""
        if self.above is not None and not value > self.above:
            return f"must be greater than {self.above}"
        if self.minimum is not None and self.maximum is not None:
            if not self.minimum <= value <= self.maximum:
                return f"must be in [{self.minimum}, {self.maximum}]"
        elif self.minimum is not None and not value >= self.minimum:
            return f"must be at least {self.minimum}"
        elif self.maximum is not None and not value <= self.maximum:
            return f"must be at most {self.maximum}"
        return None


def bounded(parser, option, minimum=None, maximum=None, above=None):
    """Declare the range of ``parser``'s numeric ``option`` ("--learning_rate");
    ``parse_with_config`` checks it, whether the value was typed or came from the config."""
    for action in parser._actions:
        if option in action.option_strings:
            action.bounds = Bounds(minimum, maximum, above)
            return
    raise ValueError(f"{option}: no such option")


def check_option_values(parser, args, from_config=(), config_path=None):
    """Typed numeric options: the type of a value the config set (argparse checked the typed
    ones), then every declared range. One-line UerError naming the option (and the file)."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if value is None or action.nargs is not None or action.type not in (int, float):
            continue
        where = (f"{config_path}: config key '{action.dest}'" if action.dest in from_config
                 else action.option_strings[-1])
        numeric = (int,) if action.type is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric) or value != value:
            kind = "an integer" if action.type is int else "a number"
            raise UerError(f"{where} must be {kind}, got {value!r}")
        bounds = getattr(action, "bounds", None)
        problem = bounds.problem(value) if bounds is not None else None
        if problem:
            raise UerError(f"{where} {problem}, got {value}")


def parse_with_config(parser, argv=None):
    """Parse ``argv``, merge ``args.config_path`` (if the parser has it) into the namespace, then
    check the option values and the config keys of the components the options name."""
    import sys

    from uer.hparams import check_config

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    given = explicit_dests(parser, argv)
    # The loaded model's own JSON (uer.sidecar) replaces the default --config_path.
    sidecar = find_sidecar(args)
    config_path = getattr(args, "config_path", None)
    from_config = set()
    if config_path and (sidecar is None or "config_path" in given):
        for key, value in load_config(config_path).items():
            if key not in given:
                setattr(args, key, value)
                from_config.add(key)
    if sidecar is not None:
        sidecar.apply(args, given, from_config, config_path)
    check_option_values(parser, args, from_config, config_path)
    check_config(args, present_only=True)
    return args
