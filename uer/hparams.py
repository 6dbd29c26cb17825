"""Reading model hyper-parameters (config JSON merged into args) with clear errors.

A component (embedding, encoder, target) declares the config keys it reads in the class
attribute ``config_keys``: a tuple of ``Key`` (name, type, range, default). It reads them with
``read(args, self)``, which returns their checked values; ``check_config(args, path)`` runs the
same checks for every component the options name, right after the config is merged (see
``uer.config.parse_with_config``), so a bad value stops the run before any work. Errors are one
line naming the key, the component and the config file:

    models/x.json: config key 'heads_num' must be an integer >= 1, got 'four' (encoder bert)
"""
import argparse
import math

from uer.errors import UerError

REQUIRED = object()  # Key default: the config must give the key


class Key:
    """One config key: ``kind`` int, float or str; ``minimum``/``maximum`` inclusive bounds,
    ``above`` an exclusive one; ``choices`` for strings; ``default`` when absent (REQUIRED: an
    error); ``divides``: the name of another key whose value must be a multiple of this one
    (heads_num divides hidden_size)."""

    def __init__(self, name, kind=int, minimum=None, maximum=None, default=REQUIRED,
                 choices=None, divides=None, above=None):
        self.name, self.kind, self.default = name, kind, default
        self.minimum, self.maximum, self.choices, self.divides = minimum, maximum, choices, divides
        self.above = above

    def describe(self):
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = {int: "an integer", float: "a number", str: "a string"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} in [{self.minimum}, {self.maximum}]"
        if self.minimum is not None:
            return f"{kind} >= {self.minimum}"
        if self.above is not None:
            return f"{kind} > {self.above}"
        return kind

    def valid(self, value):
        if isinstance(value, bool):  # JSON true/false are not numbers here
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.kind is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
            return False
        if self.kind is str and not isinstance(value, str):
            return False
        if self.choices is not None and value not in self.choices:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        if self.above is not None and not value > self.above:
            return False
        return self.maximum is None or value <= self.maximum


# The keys several components read: one definition each (type, range, default).
EMB_SIZE = Key("emb_size", int, minimum=1)
HIDDEN_SIZE = Key("hidden_size", int, minimum=1)
LAYERS_NUM = Key("layers_num", int, minimum=1)
HEADS_NUM = Key("heads_num", int, minimum=1, divides="hidden_size")
FEEDFORWARD_SIZE = Key("feedforward_size", int, minimum=1)
DROPOUT = Key("dropout", float, minimum=0, maximum=1)
KERNEL_SIZE = Key("kernel_size", int, minimum=1, default=3)  # UER-py's --kernel_size default


def in_file(args):
    """"models/x.json: " when the values came with a --config_path, else nothing."""
    path = getattr(args, "config_path", None)
    return f"{path}: " if path else ""


def who_of(component):
    """"encoder bert": the registry kind and name (``Registry.register`` records them)."""
    return getattr(component, "component_name", None) or type(component).__name__


def value_of(args, key, who):
    """``args.<key>`` checked against ``key`` (a ``Key``); the default when absent."""
    value = getattr(args, key.name, None)
    if value is None:
        if key.default is REQUIRED:
            raise UerError(f"config key '{key.name}' is required by {who} "
                           f"(set it in --config_path)")
        return key.default
    if not key.valid(value):
        raise UerError(f"{in_file(args)}config key '{key.name}' must be {key.describe()}, "
                       f"got {value!r} ({who})")
    return value


def read(args, component, keys=None, present_only=False):
    """Namespace of the checked values of ``component``'s ``config_keys`` (or ``keys``);
    ``present_only``: check only the keys ``args`` has (a missing one is reported when the
    component is built, after the scripts have filled their defaults)."""
    who = who_of(component)
    keys = component.config_keys if keys is None else keys
    if present_only:
        keys = [key for key in keys if getattr(args, key.name, None) is not None]
    values = {key.name: value_of(args, key, who) for key in keys}
    for key in keys:
        other = values.get(key.divides) if key.divides else None
        if other is not None and other % values[key.name] != 0:
            raise UerError(f"{in_file(args)}config key '{key.divides}' ({other}) must be "
                           f"a multiple of '{key.name}' ({values[key.name]}) ({who})")
    return argparse.Namespace(**values)


def check_config(args, present_only=False):
    """Check the declared keys of the embedding, encoder and target that ``args`` names."""
    from uer.embeddings import str2embedding
    from uer.encoders import str2encoder
    from uer.targets import str2target

    for option, registry in (("embedding", str2embedding), ("encoder", str2encoder),
                             ("target", str2target)):
        name = getattr(args, option, None)
        component = registry.get(name) if isinstance(name, str) else None
        if component is not None and getattr(component, "config_keys", None):
            read(args, component, present_only=present_only)


def require(args, key, who):
    """``args.<key>``; a missing or None value names the config key and the component needing it.

    ``who`` reads like "encoder bert" or "target albert"."""
    value = getattr(args, key, None)
    if value is None:
        raise UerError(f"config key '{key}' is required by {who} (set it in --config_path)")
    return value


def vocab_size_of(args):
    """Vocabulary size: ``len(args.vocab)`` (the loaded uer.vocab.Vocab)."""
    vocab = getattr(args, "vocab", None)
    if vocab is None:
        raise UerError("no vocabulary loaded: give --vocab_path or --spm_model_path")
    return len(vocab)
