"""Reading model hyper-parameters (config JSON merged into args) with clear errors."""
from uer.errors import UerError


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
