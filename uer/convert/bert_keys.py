"""Parameter names of one BERT model in the three formats (SPEC §5.2, §5.5).

Each ``KeyPair`` names a tensor as UER, HuggingFace (BertForPreTraining naming, ``bert.``
prefix) and Google (TF variable) call it. Google's ``.../kernel`` variables are [in, out], the
transpose of a torch Linear weight; every other tensor has the same layout in all three. The
segment and position tables and the MLM decoder weight need more than a rename: the format
modules handle them (``SEGMENT``, ``POSITION``, ``MLM_DECODER`` below name them).
"""
import re
from collections import namedtuple

from uer.errors import UerError

KeyPair = namedtuple("KeyPair", "uer hf google group")

SEGMENT = "embedding.segment_embedding.weight"
POSITION = "embedding.position_embedding.weight"
WORD = "embedding.word_embedding.weight"
MLM_DECODER = "target.mlm_linear_2.weight"

# Groups: "body" (embedding + encoder) must be complete; a head ("mlm", "pooler", "nsp") is all
# or nothing.
_EMBEDDING = [
    (WORD, "bert.embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings"),
    (POSITION, "bert.embeddings.position_embeddings.weight",
     "bert/embeddings/position_embeddings"),
    (SEGMENT, "bert.embeddings.token_type_embeddings.weight",
     "bert/embeddings/token_type_embeddings"),
    ("embedding.layer_norm.gamma", "bert.embeddings.LayerNorm.weight",
     "bert/embeddings/LayerNorm/gamma"),
    ("embedding.layer_norm.beta", "bert.embeddings.LayerNorm.bias",
     "bert/embeddings/LayerNorm/beta"),
]

# Per transformer layer: (UER suffix, HF suffix, Google suffix), weight then bias.
_LAYER = []
for _uer, _hf, _google in (
        ("self_attn.linear_layers.0", "attention.self.query", "attention/self/query"),
        ("self_attn.linear_layers.1", "attention.self.key", "attention/self/key"),
        ("self_attn.linear_layers.2", "attention.self.value", "attention/self/value"),
        ("self_attn.final_linear", "attention.output.dense", "attention/output/dense"),
        ("feed_forward.linear_1", "intermediate.dense", "intermediate/dense"),
        ("feed_forward.linear_2", "output.dense", "output/dense")):
    _LAYER.append((f"{_uer}.weight", f"{_hf}.weight", f"{_google}/kernel"))
    _LAYER.append((f"{_uer}.bias", f"{_hf}.bias", f"{_google}/bias"))
for _uer, _hf, _google in (
        ("layer_norm_1", "attention.output.LayerNorm", "attention/output/LayerNorm"),
        ("layer_norm_2", "output.LayerNorm", "output/LayerNorm")):
    _LAYER.append((f"{_uer}.gamma", f"{_hf}.weight", f"{_google}/gamma"))
    _LAYER.append((f"{_uer}.beta", f"{_hf}.bias", f"{_google}/beta"))

_MLM = [
    ("target.mlm_linear_1.weight", "cls.predictions.transform.dense.weight",
     "cls/predictions/transform/dense/kernel"),
    ("target.mlm_linear_1.bias", "cls.predictions.transform.dense.bias",
     "cls/predictions/transform/dense/bias"),
    ("target.layer_norm.gamma", "cls.predictions.transform.LayerNorm.weight",
     "cls/predictions/transform/LayerNorm/gamma"),
    ("target.layer_norm.beta", "cls.predictions.transform.LayerNorm.bias",
     "cls/predictions/transform/LayerNorm/beta"),
    # Google has no decoder variable: its MLM output is tied to the word embeddings.
    (MLM_DECODER, "cls.predictions.decoder.weight", None),
    ("target.mlm_linear_2.bias", "cls.predictions.bias", "cls/predictions/output_bias"),
]

# The pooler is a head of its own: a bare BertModel has it without the next-sentence layer.
_POOLER = [
    ("target.nsp_linear_1.weight", "bert.pooler.dense.weight", "bert/pooler/dense/kernel"),
    ("target.nsp_linear_1.bias", "bert.pooler.dense.bias", "bert/pooler/dense/bias"),
]

_NSP = [
    # Already [2, H] in Google's checkpoints: not a kernel, not transposed.
    ("target.nsp_linear_2.weight", "cls.seq_relationship.weight",
     "cls/seq_relationship/output_weights"),
    ("target.nsp_linear_2.bias", "cls.seq_relationship.bias", "cls/seq_relationship/output_bias"),
]

TARGETS = ("bert", "mlm")


def key_table(layers_num, target="bert"):
    """Every KeyPair of a UER BERT model with ``layers_num`` layers and the given target."""
    if target not in TARGETS:
        raise UerError(f"--target {target!r}: use one of {', '.join(TARGETS)}")
    table = [KeyPair(u, h, g, "body") for u, h, g in _EMBEDDING]
    for i in range(layers_num):
        table += [KeyPair(f"encoder.transformer.{i}.{u}", f"bert.encoder.layer.{i}.{h}",
                          f"bert/encoder/layer_{i}/{g}", "body") for u, h, g in _LAYER]
    table += [KeyPair(u, h, g, "mlm") for u, h, g in _MLM]
    if target == "bert":
        table += [KeyPair(u, h, g, "pooler") for u, h, g in _POOLER]
        table += [KeyPair(u, h, g, "nsp") for u, h, g in _NSP]
    return table


def is_kernel(google_name):
    """Google stores these [in, out]: transposed with respect to torch's Linear weight."""
    return google_name.endswith("/kernel")


def count_layers(keys, pattern, source):
    """Number of layers named in ``keys`` by ``pattern`` (a regex with one group: the index).

    The indices must be 0..N-1 with none missing; no match is an error (not a BERT model)."""
    regex = re.compile(pattern)
    indices = {int(m.group(1)) for m in map(regex.match, keys) if m}
    if not indices:
        raise UerError(f"{source}: no transformer layers found (not a BERT checkpoint?)")
    if indices != set(range(max(indices) + 1)):
        missing = sorted(set(range(max(indices) + 1)) - indices)
        raise UerError(f"{source}: transformer layers {missing} are missing")
    return len(indices)


def check_layers_num(found, given, source):
    """``--layers_num`` is optional; given, it must agree with the checkpoint."""
    if given is not None and given != found:
        raise UerError(f"--layers_num {given} but {source} has {found} transformer layers "
                       "(omit --layers_num to use the checkpoint's count)")
    return found
