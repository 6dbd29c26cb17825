"""BERT's config JSON, as HuggingFace (``config.json``) and Google (``bert_config.json``) write
it: the same key names (HuggingFace adds a few), read into and written from UER's config."""
import json

from uer.constants import MAX_POSITIONS
from uer.errors import UerError
from uer.layers.activation import ACTIVATIONS

# BERT key -> the UER size it must equal.
SIZE_KEYS = (("vocab_size", "vocab_size"), ("hidden_size", "hidden_size"),
             ("intermediate_size", "feedforward_size"), ("num_hidden_layers", "layers_num"))


def read_bert_config(path):
    """The JSON object at ``path``, refused when it describes something UER cannot compute."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as err:
        raise UerError(f"{path}: not a readable BERT config ({err})") from None
    if not isinstance(config, dict):
        raise UerError(f"{path}: not a BERT config (expected a JSON object)")
    if config.get("model_type", "bert") != "bert":
        raise UerError(f"{path}: model_type {config['model_type']!r} is not bert")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise UerError(f"{path}: position_embedding_type "
                       f"{config['position_embedding_type']!r}: only absolute positions map to UER")
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise UerError(f"{path}: a decoder BERT has no UER equivalent")
    return config


def source_settings(config, heads_num, source, config_option):
    """(heads_num, hidden_act, dropout) of a source model: from its config (``{}`` when it
    has none; then ``heads_num`` must be given, the rest defaults to BERT's)."""
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in ACTIVATIONS:
        raise UerError(f"{source}: hidden_act {hidden_act!r} has no UER equivalent "
                       f"(UER has {', '.join(sorted(ACTIVATIONS))})")
    heads = config.get("num_attention_heads") or heads_num
    if not heads:
        raise UerError(f"{source}: no model config, and the number of attention heads cannot be "
                       f"read from the weights: give {config_option} or --heads_num")
    if heads_num and heads_num != heads:
        raise UerError(f"--heads_num {heads_num} but the config has {heads}")
    if not config:
        print(f"note: no model config: sizes from the weights, heads_num {heads}, gelu, "
              "dropout 0.1")
    return heads, hidden_act, config.get("hidden_dropout_prob", 0.1)


def check_mlm_activation(hidden_act, converted):
    if "mlm" in converted and hidden_act != "gelu":
        print(f"warning: hidden_act {hidden_act}: UER's MLM head always uses gelu, so the MLM "
              "logits differ from the source's (the encoder output does not)")


def check_sizes(config, sizes, source):
    for bert_key, key in SIZE_KEYS:
        if bert_key in config and config[bert_key] != sizes[key]:
            raise UerError(f"{source}: {bert_key} is {config[bert_key]} in the config but "
                           f"{sizes[key]} in the weights")


def export_config(sizes, uer_conf):
    """The keys of Google's bert_config.json for a UER model (HuggingFace adds its own)."""
    dropout = uer_conf.get("dropout", 0.1)
    return {"attention_probs_dropout_prob": dropout,
            "hidden_act": uer_conf.get("hidden_act", "gelu"),
            "hidden_dropout_prob": dropout, "hidden_size": sizes["hidden_size"],
            "initializer_range": 0.02, "intermediate_size": sizes["feedforward_size"],
            "max_position_embeddings": MAX_POSITIONS,
            "num_attention_heads": uer_conf["heads_num"],
            "num_hidden_layers": sizes["layers_num"], "type_vocab_size": 2,
            "vocab_size": sizes["vocab_size"]}
