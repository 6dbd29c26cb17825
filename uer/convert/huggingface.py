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
from uer.constants import MAX_POSITIONS
from uer.convert import layernorm
from uer.convert.bert_keys import (MLM_DECODER, SEGMENT, WORD, check_layers_num, count_layers,
                                   key_table)
from uer.convert.uer_model import (HEAD_NAMES, adapt_into_uer, collect, report_heads,
                                   report_ignored, segment_out_of_uer, sizes_of, uer_config)
from uer.errors import UerError
from uer.layers.activation import ACTIVATIONS

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
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise UerError(f"{path}: not a readable safetensors file ({err})") from None
    return read_state_dict(path)


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


def read_hf_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as err:
        raise UerError(f"{path}: not a readable config.json ({err})") from None
    if config.get("model_type", "bert") != "bert":
        raise UerError(f"{path}: model_type {config['model_type']!r} is not bert")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise UerError(f"{path}: position_embedding_type "
                       f"{config['position_embedding_type']!r}: only absolute positions map to UER")
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise UerError(f"{path}: a decoder BERT has no UER equivalent")
    return config


def check_sizes(config, sizes, config_path):
    pairs = (("vocab_size", "vocab_size"), ("hidden_size", "hidden_size"),
             ("intermediate_size", "feedforward_size"), ("num_hidden_layers", "layers_num"))
    for hf_key, key in pairs:
        if hf_key in config and config[hf_key] != sizes[key]:
            raise UerError(f"{config_path}: {hf_key} is {config[hf_key]} but the weights have "
                           f"{sizes[key]}")


def hf_to_uer(hf_state, hf_config, target="bert", layers_num=None, heads_num=None,
              layernorm_mode="standard", source="the HuggingFace model"):
    """(UER state, UER config) from a normalized HF state dict and its config.json (a dict,
    or None: sizes then from the shapes and ``heads_num`` required)."""
    layers = check_layers_num(count_layers(hf_state, HF_LAYER_PATTERN, source), layers_num, source)
    config = hf_config or {}
    tied = config.get("tie_word_embeddings", True)
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in ACTIVATIONS:
        raise UerError(f"{source}: hidden_act {hidden_act!r} has no UER equivalent "
                       f"(UER has {', '.join(sorted(ACTIVATIONS))})")
    heads = config.get("num_attention_heads") or heads_num
    if not heads:
        raise UerError(f"{source}: no config.json, and the number of attention heads cannot be "
                       "read from the weights: give --hf_config_path or --heads_num")
    if heads_num and heads_num != heads:
        raise UerError(f"--heads_num {heads_num} but the config has {heads}")

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
    check_sizes(config, sizes, source + " config")
    if "mlm" in converted and hidden_act != "gelu":
        print(f"warning: hidden_act {hidden_act}: UER's MLM head always uses gelu, so the MLM "
              "logits differ from the source's (the encoder output does not)")
    if DECODER_BIAS in hf_state:
        used.add(DECODER_BIAS)
    report_heads(converted, target)
    report_ignored(set(hf_state) - used, source)
    if hf_config is None:
        print(f"note: no config.json: sizes from the weights, heads_num {heads}, gelu, "
              "dropout 0.1, LayerNorm eps 1e-12")
    extra = layernorm.into_uer(state, layernorm_mode, config.get("layer_norm_eps", 1e-12))
    return state, uer_config(sizes, heads, hidden_act, config.get("hidden_dropout_prob", 0.1),
                             extra)


def load_hf(path, config_path=None):
    """(normalized state, config dict or None, weights path) of a HuggingFace model."""
    weights, config_path = locate(path, config_path)
    config = read_hf_config(config_path) if config_path else None
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
    sizes = sizes_of(uer_state, layers)
    dropout = uer_conf.get("dropout", 0.1)
    hidden_act = uer_conf.get("hidden_act", "gelu")
    hf_config = {
        "architectures": [arch], "model_type": "bert",
        "vocab_size": sizes["vocab_size"], "hidden_size": sizes["hidden_size"],
        "num_hidden_layers": layers, "num_attention_heads": uer_conf["heads_num"],
        "intermediate_size": sizes["feedforward_size"], "hidden_act": hidden_act,
        "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": MAX_POSITIONS, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": eps, "pad_token_id": 0,
        "position_embedding_type": "absolute", "tie_word_embeddings": tied,
    }
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
    if vocab_path and not os.path.isfile(vocab_path):
        raise UerError(f"{vocab_path}: vocabulary file not found (--vocab_path)")
    if output_path.endswith((".bin", ".safetensors")):
        folder = os.path.dirname(os.path.abspath(output_path))
        weights_format = "safetensors" if output_path.endswith(".safetensors") else "bin"
        with atomic_path(output_path) as tmp:
            _save_weights(hf_state, tmp, weights_format)
        write_text(os.path.join(folder, CONFIG_FILE), config_text)
        if vocab_path:
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
