"""Google BERT TensorFlow checkpoints <-> UER (SPEC §5.5), with TensorFlow 2 (``tensorflow-cpu``).

A checkpoint is named by its prefix: ``bert_model.ckpt`` for ``bert_model.ckpt.index`` plus
``bert_model.ckpt.data-*``. It is read with ``tf.train.load_checkpoint`` and written with the
``SaveV2`` op, which stores tensors under exactly the given names, the name-based keys that
Google's ``modeling.py`` / ``init_from_checkpoint`` look up (an object-based
``tf.train.Checkpoint`` would store other keys, which Google's loader silently skips).

Layouts: ``.../kernel`` variables are [in, out], transposed on the way in and out;
``cls/seq_relationship/output_weights`` is already [2, H]. Google's MLM output layer is the word
embedding matrix (always tied): UER's ``target.mlm_linear_2.weight`` is taken from it, and an
untied one cannot be written (a warning says so). Google's LayerNorm is the standard formula
with eps 1e-12 (uer.convert.layernorm). ``global_step`` and the Adam slots (``*/adam_m``,
``*/adam_v``) of training checkpoints are skipped.

``bert_config.json`` is read from beside the checkpoint unless given; it is written beside the
output checkpoint, with ``vocab.txt`` when a vocabulary is given.
"""
import glob
import json
import os
import shutil

import numpy as np
import torch

from uer.atomic import temporary_path, write_text
from uer.convert import layernorm
from uer.convert.bert_config import (check_mlm_activation, check_sizes, export_config,
                                     read_bert_config, source_settings)
from uer.convert.bert_keys import (MLM_DECODER, SEGMENT, WORD, check_layers_num, count_layers,
                                   is_kernel, key_table)
from uer.convert.uer_model import (adapt_into_uer, collect, report_heads, report_ignored,
                                   segment_out_of_uer, sizes_of, uer_config)
from uer.errors import UerError
from uer.layers.layer_norm import STANDARD_EPS

CONFIG_FILE = "bert_config.json"
GOOGLE_LAYER_PATTERN = r"bert/encoder/layer_(\d+)/"
GOOGLE_WORD = "bert/embeddings/word_embeddings"
MLM_MARKER = "cls/predictions/output_bias"
SKIPPED_SUFFIXES = ("/adam_m", "/adam_v")
SKIPPED_NAMES = ("global_step",)


def import_tf():
    """TensorFlow, or a one-line error naming the package to install."""
    # TF is used for file input/output only: its start-up logging and oneDNN notice are noise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf
    except ImportError:
        raise UerError("the Google BERT converters need TensorFlow: pip install tensorflow-cpu"
                       ) from None
    return tf


def checkpoint_prefix(path):
    """The prefix of a checkpoint given as its prefix, its .index file, or its folder."""
    if path.endswith(".index"):
        path = path[:-len(".index")]
    if os.path.isdir(path):
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) != 1:
            raise UerError(f"{path}: expected one checkpoint (*.index) in this folder, found "
                           f"{len(indexes)}; give the checkpoint prefix")
        path = indexes[0][:-len(".index")]
    if not os.path.isfile(path + ".index"):
        raise UerError(f"{path}: no TensorFlow checkpoint with this prefix ({path}.index not "
                       "found)")
    return path


# ---- reading Google --------------------------------------------------------------------------

def read_google(path):
    """{variable name: numpy array} of a checkpoint, training-only variables left out."""
    tf = import_tf()
    try:
        reader = tf.train.load_checkpoint(path)
    except Exception as err:  # TF raises several error types for unreadable files
        raise UerError(f"{path}: not a readable TensorFlow checkpoint ({str(err)[:200]})") from None
    names = [n for n in reader.get_variable_to_shape_map()
             if n not in SKIPPED_NAMES and not n.endswith(SKIPPED_SUFFIXES)]
    return {name: reader.get_tensor(name) for name in names}


def google_to_uer(variables, bert_config, target="bert", layers_num=None, heads_num=None,
                  layernorm_mode="standard", source="the Google checkpoint"):
    """(UER state, UER config) from Google variables and bert_config.json (a dict or None)."""
    layers = check_layers_num(count_layers(variables, GOOGLE_LAYER_PATTERN, source), layers_num,
                              source)
    config = bert_config or {}
    heads, hidden_act, dropout = source_settings(config, heads_num, source, "--bert_config_path")
    used = set()

    def lookup(pair):
        if pair.uer == MLM_DECODER:
            # Tied in Google's code: the word embeddings, when the rest of the head is there.
            return torch.from_numpy(np.array(variables[GOOGLE_WORD])) \
                if MLM_MARKER in variables else None
        value = variables.get(pair.google)
        if value is None:
            return None
        used.add(pair.google)
        tensor = torch.from_numpy(np.array(value))
        return tensor.t().contiguous() if is_kernel(pair.google) else tensor

    state, converted = collect(key_table(layers, target), lookup, source,
                               name_of=lambda p: p.google)
    adapt_into_uer(state)
    sizes = sizes_of(state, layers)
    check_sizes(config, sizes, source)
    check_mlm_activation(hidden_act, converted)
    report_heads(converted, target)
    report_ignored(set(variables) - used, source)
    extra = layernorm.into_uer(state, layernorm_mode, STANDARD_EPS)
    return state, uer_config(sizes, heads, hidden_act, dropout, extra)


def load_google(path, config_path=None):
    """(variables, bert_config dict or None, prefix)."""
    prefix = checkpoint_prefix(path)
    if config_path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(prefix)), CONFIG_FILE)
        config_path = beside if os.path.isfile(beside) else None
    config = read_bert_config(config_path) if config_path else None
    if config_path:
        print(f"Reading {prefix} with {config_path}")
    return read_google(prefix), config, prefix


# ---- writing Google --------------------------------------------------------------------------

def uer_to_google(uer_state, uer_conf, layers, target="bert", uer_layernorm="rescale",
                  source="the UER model"):
    """({variable name: float32 numpy array}, bert_config dict) from a UER state."""
    table = key_table(layers, target)
    state, converted = collect(table, lambda p: uer_state.get(p.uer), source,
                               name_of=lambda p: p.uer)
    state[SEGMENT] = segment_out_of_uer(state[SEGMENT])
    eps = layernorm.out_of_uer(state, uer_conf, uer_layernorm)
    if eps != STANDARD_EPS:
        print(f"warning: the UER config's layernorm_eps is {eps:g}; Google's code uses 1e-12")
    if "mlm" in converted and not torch.equal(uer_state[WORD], uer_state[MLM_DECODER]):
        print("warning: target.mlm_linear_2.weight differs from the word embeddings; Google BERT "
              "ties them, so it is not written and the MLM logits will differ (the encoder "
              "output does not)")
    variables = {}
    for pair in table:
        if pair.google is None or pair.uer not in state:
            continue
        tensor = state[pair.uer].float()
        tensor = tensor.t() if is_kernel(pair.google) else tensor
        variables[pair.google] = tensor.contiguous().numpy()
    report_heads(converted, target)
    report_ignored(set(uer_state) - {p.uer for p in key_table(layers, "bert")}, source)
    return variables, export_config(sizes_of(uer_state, layers), uer_conf)


def write_google(variables, prefix):
    """Name-based checkpoint files at ``prefix``: written in a temporary sibling folder, then
    moved in (data before index, so an index never points at missing data)."""
    tf = import_tf()
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(prefix)
    tmp = temporary_path(prefix)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        names = sorted(variables)
        tf.raw_ops.SaveV2(prefix=os.path.join(tmp, base), tensor_names=names,
                          shape_and_slices=[""] * len(names),
                          tensors=[variables[name] for name in names])
        written = sorted(os.listdir(tmp), key=lambda n: n.endswith(".index"))
        stale = set(glob.glob(os.path.join(folder, glob.escape(base) + ".data-*")))
        for name in written:
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
            stale.discard(os.path.join(folder, name))
        for path in stale:  # data shards of an older checkpoint with this prefix
            os.remove(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Wrote {len(variables)} variables to the TensorFlow checkpoint {prefix}")


def write_google_config(bert_config, config_path, vocab_path=None):
    write_text(config_path, json.dumps(bert_config, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {config_path}")
    if vocab_path:
        target = os.path.join(os.path.dirname(os.path.abspath(config_path)), "vocab.txt")
        if os.path.abspath(vocab_path) != target:
            shutil.copyfile(vocab_path, target)
