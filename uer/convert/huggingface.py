"""HuggingFace BERT <-> UER (SPEC §5.5), without needing transformers itself.

Input: a state dict of ``BertForPreTraining``, ``BertForMaskedLM`` or a bare ``BertModel``
(with or without the ``bert.`` prefix; old ``LayerNorm.gamma/beta`` names too), as
``model.safetensors`` or ``pytorch_model.bin``, or a model directory holding one of them.
The sizes come from ``config.json`` (given, or found beside the weights); without one they
are read from the tensor shapes, except ``heads_num``, which shapes cannot tell: then
``--heads_num`` is required.

Output: a directory that ``transformers.BertForPreTraining.from_pretrained`` loads
(``BertForMaskedLM`` when the model has no NSP head, ``BertModel`` when it has no head at all),
holding ``config.json``, the weights and, if given, ``vocab.txt``; or, when the output path ends
in ``.bin`` / ``.safetensors``, that weights file with ``config.json`` beside it.

HuggingFace's ``tie_word_embeddings`` (default true) makes the MLM decoder use the word
embeddings whatever the file holds, so the UER decoder weight is taken from them when tied; on
the way out the flag is set from whether the two UER tensors are equal.
"""
import json
import os
import re
import shutil

import torch

from uer.atomic import atomic_directory, atomic_path, write_text
from uer.checkpoint import read_state_dict
from uer.convert import layernorm
from uer.convert.bert_config import (check_mlm_activation, check_sizes, export_config,
                                     read_bert_config, source_settings)
from uer.convert.bert_keys import (MLM_DECODER, SEGMENT, WORD, check_layers_num, count_layers,
                                   key_table)
from uer.convert.uer_model import (HEAD_NAMES, adapt_into_uer, collect, report_heads,
                                   report_ignored, segment_out_of_uer, sizes_of, uer_config)
from uer.errors import UerError
from uer.layers.layer_norm import STANDARD_EPS

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG_FILE = "config.json"
HF_LAYER_PATTERN = r"bert\.encoder\.layer\.(\d+)\."
# Buffers some versions save; they carry no weights.
BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")
HF_WORD = "bert.embeddings.word_embeddings.weight"
# Tied to cls.predictions.bias in transformers 4, and in 5 when tie_word_embeddings is true.
DECODER_BIAS = "cls.predictions.decoder.bias"
MLM_BIAS = "target.mlm_linear_2.bias"


# ---- reading HuggingFace ---------------------------------------------------------------------

def locate(path, config_path=None):
    """(weights file, config.json or None) for a weights file or a model directory."""
    if os.path.isdir(path):
        found = [os.path.join(path, name) for name in WEIGHT_FILES
                 if os.path.isfile(os.path.join(path, name))]
        if not found:
            sharded = [n for n in os.listdir(path) if n.endswith(".index.json")]
            reason = " (sharded checkpoints are not supported)" if sharded else ""
            raise UerError(f"{path}: no {' or '.join(WEIGHT_FILES)} in this directory{reason}")
        weights = found[0]
    elif os.path.isfile(path):
        weights = path
    else:
        raise UerError(f"{path}: model file or directory not found")
    if config_path is None:
        beside = os.path.join(os.path.dirname(weights), CONFIG_FILE)
        config_path = beside if os.path.isfile(beside) else None
    return weights, config_path


def read_weights(path):
    return read_state_dict(path)  # PyTorch or safetensors, told by content


def normalize(state):
    """BertForPreTraining names: ``bert.`` prefix added where missing, LayerNorm
    ``gamma``/``beta`` renamed ``weight``/``bias``; buffers dropped."""
    out = {}
    for key, tensor in state.items():
        if key.endswith(BUFFER_SUFFIXES):
            continue
        if key.startswith(("embeddings.", "encoder.", "pooler.")):
            key = "bert." + key
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
        out[key] = tensor
    return out


def hf_to_uer(hf_state, hf_config, target="bert", layers_num=None, heads_num=None,
              layernorm_mode="standard", source="the HuggingFace model"):
    """(UER state, UER config) from a normalized HF state dict and its config.json (a dict,
    or None: sizes then from the shapes and ``heads_num`` required)."""
    layers = check_layers_num(count_layers(hf_state, HF_LAYER_PATTERN, source), layers_num, source)
    config = hf_config or {}
    heads, hidden_act, dropout = source_settings(config, heads_num, source, "--hf_config_path")
    tied = config.get("tie_word_embeddings", True)

    has_mlm = "cls.predictions.transform.dense.weight" in hf_state
    used = set()

    def lookup(pair):
        if pair.uer == MLM_DECODER and has_mlm and tied:
            # transformers computes with the word embeddings here, whatever the file holds.
            decoder = hf_state.get(pair.hf)
            if decoder is not None and not torch.equal(decoder, hf_state[HF_WORD]):
                print("note: the decoder weight differs from the word embeddings but the "
                      "config ties them: using the word embeddings, as transformers does")
            used.add(pair.hf)
            return hf_state[HF_WORD].clone()
        name = pair.hf
        if pair.uer == MLM_BIAS and not tied and DECODER_BIAS in hf_state:
            # Untied (transformers 5), the decoder adds its own bias; tied, it is this one.
            name = DECODER_BIAS
        tensor = hf_state.get(name)
        if tensor is not None:
            used.add(name)
            tensor = tensor.clone()
        return tensor

    table = key_table(layers, target)
    state, converted = collect(table, lookup, source, name_of=lambda p: p.hf)
    adapt_into_uer(state)
    sizes = sizes_of(state, layers)
    check_sizes(config, sizes, source)
    check_mlm_activation(hidden_act, converted)
    if "mlm" in converted:
        used.update((DECODER_BIAS, "cls.predictions.bias"))  # one bias under two names
    report_heads(converted, target)
    report_ignored(set(hf_state) - used, source)
    extra = layernorm.into_uer(state, layernorm_mode, config.get("layer_norm_eps", STANDARD_EPS))
    return state, uer_config(sizes, heads, hidden_act, dropout, extra)


def load_hf(path, config_path=None):
    """(normalized state, config dict or None, weights path) of a HuggingFace model."""
    weights, config_path = locate(path, config_path)
    config = read_bert_config(config_path) if config_path else None
    if config_path:
        print(f"Reading {weights} with {config_path}")
    return normalize(read_weights(weights)), config, weights


# ---- writing HuggingFace ---------------------------------------------------------------------

def architecture(converted):
    if "mlm" in converted and "nsp" in converted:
        return "BertForPreTraining"
    return "BertForMaskedLM" if "mlm" in converted else "BertModel"


def uer_to_hf(uer_state, uer_conf, layers, target="bert", uer_layernorm="rescale",
              source="the UER model"):
    """(HF state dict, HF config dict) from a UER state and its config."""
    table = key_table(layers, target)
    state, converted = collect(table, lambda p: uer_state.get(p.uer), source,
                               name_of=lambda p: p.uer)
    state[SEGMENT] = segment_out_of_uer(state[SEGMENT])
    eps = layernorm.out_of_uer(state, uer_conf, uer_layernorm)
    arch = architecture(converted)
    # Heads the chosen architecture has no place for are left out, with a note.
    kept = {"BertForPreTraining": ("mlm", "pooler", "nsp"), "BertForMaskedLM": ("mlm",),
            "BertModel": ("pooler",)}[arch]
    dropped = [HEAD_NAMES[h] for h in converted if h not in kept]
    if dropped:
        print(f"note: {arch} has no place for the " + " and the ".join(dropped) + ": left out")
    hf_state = {}
    for pair in table:
        if pair.uer not in state or (pair.group != "body" and pair.group not in kept):
            continue
        # BertModel's own names have no "bert." prefix.
        name = pair.hf[len("bert."):] if arch == "BertModel" else pair.hf
        hf_state[name] = state[pair.uer].clone().contiguous()
    tied = False
    if "mlm" in converted:
        tied = torch.equal(uer_state[WORD], uer_state[MLM_DECODER])
        hf_state[DECODER_BIAS] = hf_state["cls.predictions.bias"].clone()
    report_heads(converted, target)
    config_keys = {p.uer for p in key_table(layers, "bert")}
    report_ignored(set(uer_state) - config_keys, source)
    hf_config = dict(export_config(sizes_of(uer_state, layers), uer_conf),
                     architectures=[arch], model_type="bert", layer_norm_eps=eps, pad_token_id=0,
                     position_embedding_type="absolute", tie_word_embeddings=tied)
    return hf_state, hf_config


def _save_weights(state, path, weights_format):
    if weights_format == "safetensors":
        try:
            from safetensors.torch import save_file
        except ImportError:
            raise UerError("writing .safetensors needs the package safetensors "
                           "(pip install safetensors), or use --weights_format bin") from None
        save_file(state, path, metadata={"format": "pt"})
    else:
        torch.save(state, path)


def write_hf(hf_state, hf_config, output_path, weights_format="safetensors", vocab_path=None):
    """A model directory (or a weights file with config.json beside it), written atomically."""
    config_text = json.dumps(hf_config, indent=2, sort_keys=True) + "\n"
    if output_path.endswith((".bin", ".safetensors")):
        folder = os.path.dirname(os.path.abspath(output_path))
        weights_format = "safetensors" if output_path.endswith(".safetensors") else "bin"
        with atomic_path(output_path) as tmp:
            _save_weights(hf_state, tmp, weights_format)
        write_text(os.path.join(folder, CONFIG_FILE), config_text)
        if vocab_path and os.path.abspath(vocab_path) != os.path.join(folder, "vocab.txt"):
            shutil.copyfile(vocab_path, os.path.join(folder, "vocab.txt"))
        print(f"Wrote {output_path} and {os.path.join(folder, CONFIG_FILE)}")
        return
    if os.path.exists(output_path) and not os.path.isdir(output_path):
        raise UerError(f"{output_path}: exists and is not a directory (the HuggingFace output is "
                       "a model directory, or a path ending in .bin or .safetensors)")
    name = "model.safetensors" if weights_format == "safetensors" else "pytorch_model.bin"
    with atomic_directory(output_path) as tmp:
        _save_weights(hf_state, os.path.join(tmp, name), weights_format)
        write_text(os.path.join(tmp, CONFIG_FILE), config_text)
        if vocab_path:
            shutil.copyfile(vocab_path, os.path.join(tmp, "vocab.txt"))
    print(f"Wrote the HuggingFace model ({hf_config['architectures'][0]}) to {output_path}")
