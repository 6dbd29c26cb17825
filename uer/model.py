"""Model = embedding -> encoder -> target, built by name from the parsed options (SPEC §4).

Library surface:
- ``build_model(args)`` -> ``Model`` for pre-training (needs ``args.target``; ties weights when
  ``args.tie_weights``). ``build_embedding(args)``, ``build_encoder(args)``, ``build_target(args)``
  build one part each (fine-tuning builds embedding + encoder and adds its own head).
- ``model_args(config=None, vocab=None, **overrides)`` -> an args namespace with the model-option
  defaults, a config (dict or JSON path) and overrides: handy for tests and library use.

``args`` carries the config keys (emb_size, hidden_size, feedforward_size, heads_num,
layers_num, dropout, hidden_act, kernel_size, ...), the model options of ``uer.opts.model_opts``
and ``args.vocab`` (a ``uer.vocab.Vocab``; its length is the vocabulary size).
"""
import argparse

from torch import nn

from uer.config import load_config
from uer.embeddings import str2embedding
from uer.encoders import str2encoder
from uer.errors import UerError
from uer.hparams import vocab_size_of
from uer.opts import model_opts, new_parser
from uer.targets import str2target


class Model(nn.Module):
    """``forward(src, tgt, seg)`` = ``target(encoder(embedding(src, seg), seg), tgt)``."""

    def __init__(self, embedding, encoder, target):
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.target = target

    def forward(self, src, tgt, seg):
        emb = self.embedding(src, seg)
        # An MLM-family loss reads a few rows; a bidirectional transformer can compute only
        # those in its last layer (uer/encoders/bert.py): same loss, ~a fifth less work.
        rows_read = getattr(self.target, "rows_read", None)
        if rows_read is not None and getattr(self.encoder, "can_compute_row_subset", False):
            output = self.encoder(emb, seg, rows=rows_read(tgt))
        else:
            output = self.encoder(emb, seg)
        return self.target(output, tgt)


def build_embedding(args):
    return str2embedding[getattr(args, "embedding", "bert")](args, vocab_size_of(args))


def build_encoder(args):
    return str2encoder[getattr(args, "encoder", "bert")](args)


def build_target(args):
    return str2target[getattr(args, "target", "bert")](args, vocab_size_of(args))


def encoder_is_causal(encoder_class, args):
    """The encoder's declaration: ``causal`` (output at t reads tokens 0..t only), or its
    ``is_causal(args)`` where options decide (lstm/gru --bidirectional)."""
    decide = getattr(encoder_class, "is_causal", None)
    return bool(decide(args) if decide is not None else getattr(encoder_class, "causal", False))


def check_combination(args):
    """Refuse encoder/target pairs whose objective is meaningless (UER-py trains them silently):
    the target declares what it needs, the encoder what it is."""
    encoder = getattr(args, "encoder", "bert")
    target = getattr(args, "target", "bert")
    target_class, encoder_class = str2target[target], str2encoder[encoder]
    plain = argparse.Namespace(bidirectional=False)
    if getattr(target_class, "needs_causal_encoder", False) and not encoder_is_causal(
            encoder_class, args):
        suffix = " --bidirectional" if getattr(args, "bidirectional", False) else ""
        causal = [name for name in str2encoder if encoder_is_causal(str2encoder[name], plain)]
        raise UerError(f"--target {target} with --encoder {encoder}{suffix}: the encoder sees the "
                       "tokens the language model must predict; use a left-to-right encoder ("
                       + ", ".join(causal) + ")")
    if getattr(target_class, "needs_separate_directions", False) and not getattr(
            encoder_class, "separate_directions", False):
        separate = [name for name in str2encoder
                    if getattr(str2encoder[name], "separate_directions", False)]
        raise UerError(f"--target {target} with --encoder {encoder}: {target} needs separate "
                       "forward and backward directions; use --encoder " + " or ".join(separate))


def tie_weights(model):
    """Make the target's vocabulary output layer share ``embedding.word_embedding.weight``."""
    target = model.target
    name = getattr(target, "tied_output_name", None)
    if not name:
        raise UerError(f"--tie_weights: target '{getattr(target, 'name', type(target).__name__)}'"
                       " has no vocabulary output layer to tie")
    output_layer = getattr(target, name)
    word_weight = model.embedding.word_embedding.weight
    if output_layer.weight.shape != word_weight.shape:
        raise UerError(f"--tie_weights: target.{name}.weight has shape "
                       f"{list(output_layer.weight.shape)} but embedding.word_embedding.weight "
                       f"has {list(word_weight.shape)} (emb_size must match the layer's input)")
    output_layer.weight = word_weight


def build_model(args):
    """The pre-training model named by args.embedding / args.encoder / args.target."""
    check_combination(args)
    model = Model(build_embedding(args), build_encoder(args), build_target(args))
    if getattr(args, "tie_weights", False):
        tie_weights(model)
    return model


def model_args(config=None, vocab=None, **overrides):
    """Namespace with the defaults of ``uer.opts.model_opts`` (plus target 'bert', tie_weights
    off), then ``config`` (a dict or a JSON path), then ``overrides``; ``vocab`` -> args.vocab."""
    parser = new_parser()
    model_opts(parser)
    args = parser.parse_args([])
    args.target = "bert"
    args.tie_weights = False
    if isinstance(config, str):
        config = load_config(config)
    for key, value in dict(config or {}, **overrides).items():
        setattr(args, key, value)
    if vocab is not None:
        args.vocab = vocab
    return args
