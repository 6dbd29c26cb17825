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

from torch import nn

from uer.config import load_config
from uer.embeddings import str2embedding
from uer.encoders import str2encoder
from uer.errors import UerError
from uer.hparams import vocab_size_of
from uer.opts import ENCODER_CHOICES, model_opts, new_parser
from uer.targets import str2target

# Encoders whose output at position t depends on tokens 0..t only; a left-to-right LM on any
# other encoder would see the token it has to predict (lstm/gru only when not bidirectional).
CAUSAL_ENCODERS = {"gpt", "lstm", "gru", "cnn", "gatedcnn", "rcnn", "crnn"}
# bilm reads a forward half and a backward half of the hidden state; only bilstm keeps the two
# directions apart in every layer (torch's bidirectional lstm mixes them from layer 2 on).
BILM_ENCODERS = {"bilstm"}


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
    name = getattr(args, "encoder", "bert")
    if name in ENCODER_CHOICES and name not in str2encoder:
        raise UerError(f"encoder '{name}' is not available yet (--encoder)")
    return str2encoder[name](args)


def build_target(args):
    return str2target[getattr(args, "target", "bert")](args, vocab_size_of(args))


def is_causal_encoder(args):
    encoder = getattr(args, "encoder", "bert")
    if encoder in ("lstm", "gru") and getattr(args, "bidirectional", False):
        return False
    return encoder in CAUSAL_ENCODERS


def check_combination(args):
    """Refuse encoder/target pairs whose objective is meaningless (UER-py trains them silently)."""
    encoder = getattr(args, "encoder", "bert")
    target = getattr(args, "target", "bert")
    if target == "lm" and not is_causal_encoder(args):
        suffix = " --bidirectional" if getattr(args, "bidirectional", False) else ""
        raise UerError(f"--target lm with --encoder {encoder}{suffix}: the encoder sees the "
                       "tokens the language model must predict; use a left-to-right encoder ("
                       + ", ".join(sorted(CAUSAL_ENCODERS)) + ")")
    if target == "bilm" and encoder not in BILM_ENCODERS:
        raise UerError(f"--target bilm with --encoder {encoder}: bilm needs separate forward "
                       "and backward directions; use --encoder bilstm")


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
