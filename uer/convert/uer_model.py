"""The UER side of every conversion: read and check a UER BERT checkpoint and its config, fill
one from renamed foreign tensors, write the checkpoint and its config JSON atomically.

Shared rules (SPEC §5.5):
- the segment table has 3 rows in UER (row 0 = padding segment), 2 elsewhere: a zero row is
  prepended on the way in and row 0 is dropped on the way out (it never reaches a real token:
  padding keys are masked, so dropping it changes no output);
- the position table has exactly 512 rows in UER (uer.constants.MAX_POSITIONS);
- a head is converted whole or not at all; the embedding and encoder must be complete.
"""
import json
import os

import torch

from uer.atomic import write_text
from uer.checkpoint import read_state_dict
from uer.config import load_config
from uer.constants import MAX_POSITIONS
from uer.convert.bert_keys import POSITION, SEGMENT, WORD, check_layers_num, count_layers
from uer.errors import UerError
from uer.sidecar import write_converted
from uer.tensorfile import write_tensors

UER_LAYER_PATTERN = r"encoder\.transformer\.(\d+)\."
HEAD_NAMES = {"mlm": "MLM head", "pooler": "pooler", "nsp": "next-sentence layer"}


def default_config_path(model_path):
    """``models/google_model.bin`` -> ``models/google_model_config.json``."""
    root, _ = os.path.splitext(model_path)
    return root + "_config.json"


def read_uer(path, layers_num=None):
    """(state, layers) of a UER BERT checkpoint; ALBERT-style models are refused."""
    state = read_state_dict(path)
    if "encoder.linear.weight" in state or any(k.startswith("encoder.transformer.self_attn.")
                                               for k in state):
        raise UerError(f"{path}: an ALBERT-style checkpoint (factorized embedding or shared "
                       "layers) has no BERT equivalent")
    if "encoder.layer_norm.gamma" in state:  # only the pre-LN layout has a final LayerNorm
        raise UerError(f"{path}: a pre-LayerNorm checkpoint (layernorm_positioning pre) has no "
                       "BERT equivalent (BERT normalises after each sub-layer)")
    layers = count_layers(state, UER_LAYER_PATTERN, path)
    return state, check_layers_num(layers, layers_num, path)


def sizes_of(state, layers):
    """vocab_size, hidden_size, feedforward_size and layers_num from the tensor shapes."""
    vocab_size, hidden_size = state[WORD].shape
    feedforward_size = state["encoder.transformer.0.feed_forward.linear_1.weight"].shape[0]
    return {"vocab_size": int(vocab_size), "hidden_size": int(hidden_size),
            "feedforward_size": int(feedforward_size), "layers_num": layers}


def read_uer_config(path, sizes):
    """The UER config at ``path``; its sizes must be those of the checkpoint."""
    config = load_config(path)
    expected = dict(sizes, emb_size=sizes["hidden_size"])
    for key in ("hidden_size", "emb_size", "feedforward_size", "layers_num"):
        if key in config and config[key] != expected[key]:
            raise UerError(f"{path}: {key} is {config[key]} but the checkpoint has "
                           f"{expected[key]} (give the config the model was trained with)")
    if not config.get("heads_num"):
        raise UerError(f"{path}: config key 'heads_num' is required")
    if config.get("factorized_embedding_parameterization") or config.get("parameter_sharing"):
        raise UerError(f"{path}: an ALBERT config has no BERT equivalent")
    return config


def uer_config(sizes, heads_num, hidden_act, dropout, extra):
    """The UER config JSON of a converted model (keys as in models/bert_base_config.json)."""
    if sizes["hidden_size"] % heads_num:
        raise UerError(f"hidden size {sizes['hidden_size']} is not divisible by "
                       f"heads_num {heads_num}")
    config = {"emb_size": sizes["hidden_size"], "feedforward_size": sizes["feedforward_size"],
              "hidden_size": sizes["hidden_size"], "hidden_act": hidden_act,
              "heads_num": heads_num, "layers_num": sizes["layers_num"], "dropout": dropout}
    config.update(extra)
    return config


def collect(table, lookup, source, name_of):
    """{UER key: tensor} from ``lookup(pair)`` (the tensor in UER layout, or None).

    The body must be complete and a head all-or-nothing (``name_of(pair)`` names a missing
    tensor in the source's terms); returns (state, heads converted)."""
    state, missing = {}, {}
    for pair in table:
        tensor = lookup(pair)
        if tensor is None:
            missing.setdefault(pair.group, []).append(pair)
        else:
            state[pair.uer] = tensor
    if "body" in missing:
        names = [str(name_of(p)) for p in missing["body"]]
        raise UerError(f"{source}: not a complete BERT model; missing {len(names)} tensors: "
                       + ", ".join(names[:4]) + (" ..." if len(names) > 4 else ""))
    converted = []
    for head in sorted({p.group for p in table} - {"body"}):
        absent = missing.get(head, [])
        if absent and len(absent) < sum(1 for p in table if p.group == head):
            raise UerError(f"{source}: the {HEAD_NAMES[head]} is incomplete (missing "
                           + ", ".join(str(name_of(p)) for p in absent) + ")")
        if not absent:
            converted.append(head)
    if "nsp" in converted and "pooler" not in converted:
        raise UerError(f"{source}: the next-sentence layer is there but not the pooler it reads")
    return state, converted


def segment_into_uer(table):
    """[2, H] -> [3, H]: row 0 (UER's padding segment) is zero."""
    rows = table.shape[0]
    if rows < 2:
        raise UerError(f"the segment (token type) table has {rows} row; UER needs 2 "
                       "(segments 1 and 2)")
    if rows > 2:
        print(f"note: the segment (token type) table has {rows} rows; UER keeps the first 2 "
              "(segments 1 and 2)")
    return torch.cat([torch.zeros_like(table[:1]), table[:2]])


def segment_out_of_uer(table):
    return table[1:].clone()


def positions_into_uer(table):
    """Exactly MAX_POSITIONS rows: longer tables are cut, shorter ones padded with zeros."""
    rows = table.shape[0]
    if rows > MAX_POSITIONS:
        print(f"note: the position table has {rows} rows; UER keeps the first {MAX_POSITIONS}")
        return table[:MAX_POSITIONS].clone()
    if rows < MAX_POSITIONS:
        print(f"note: the position table has {rows} rows; rows {rows}..{MAX_POSITIONS - 1} are "
              "zero in UER (do not use sequences longer than the source allowed)")
        return torch.cat([table, table.new_zeros(MAX_POSITIONS - rows, table.shape[1])])
    return table


def adapt_into_uer(state):
    state[SEGMENT] = segment_into_uer(state[SEGMENT])
    state[POSITION] = positions_into_uer(state[POSITION])
    return state


def report_heads(converted, target):
    """One line about heads absent from the source: fine-tuning needs only the body."""
    wanted = ["mlm"] + (["pooler", "nsp"] if target == "bert" else [])
    absent = [HEAD_NAMES[h] for h in wanted if h not in converted]
    if absent:
        print("note: the source has no " + " and no ".join(absent) + "; the output has the "
              "embedding and encoder (all fine-tuning needs)")


def report_ignored(keys, source):
    if keys:
        keys = sorted(keys)
        print(f"note: {len(keys)} tensors of {source} not converted: " + ", ".join(keys[:4])
              + (" ..." if len(keys) > 4 else ""))


def write_uer(state, config, model_path, config_path, target="bert"):
    """The checkpoint, its config and its sidecar (uer.sidecar), each written to a temporary
    file first."""
    state = {key: tensor.contiguous() for key, tensor in state.items()}
    write_tensors(state, model_path)
    write_text(config_path, json.dumps(config, indent=2) + "\n")
    write_converted(model_path, config, target, state[WORD].shape[0])
    print(f"Wrote {len(state)} tensors to {model_path}")
    print(f"Wrote the UER config to {config_path}")
