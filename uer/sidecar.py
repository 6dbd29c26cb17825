"""The JSON beside every model file this project writes: ``model.bin`` -> ``model.bin.json``.

The model file stays a plain UER-py state dict; the sidecar records how to rebuild and use it::

    {"format": "uer-model", "version": 1, "model_file": "model.bin",
     "config": {"emb_size": 384, "hidden_size": 384, "hidden_act": "gelu", "dropout": 0.1, ...},
     "model": {"embedding": "bert", "encoder": "bert", "target": "bert", "tie_weights": false,
               "factorized_embedding_parameterization": false, "parameter_sharing": false, ...},
     "vocab": {"size": 21128, "checksum": "9f2c...", "path": "/abs/vocab.txt"},
     "tokenizer": "bert", "seq_length": 128,
     "task": {"name": "classification", "labels_num": 2, "label_map": {"0": 0, "1": 1},
              "options": {"pooling": "first", ...}}}       # fine-tuned models only

Reading (``apply_sidecar``, called by uer.config.parse_with_config): when the model named by
``--load_model_path`` or ``--pretrained_model_path`` has a sidecar, its values become the
defaults. Precedence: options typed on the command line, then a typed --config_path, then the
sidecar, then the parser defaults (the default --config_path is not read). A typed value that
cannot fit the model (another hidden size, encoder, labels_num, ...) is a one-line error naming
both values; so is a vocabulary with another checksum (``check_vocab``, after it is loaded).
Without a sidecar nothing changes.
"""
import json
import os

from uer.atomic import write_text
from uer.errors import UerError

FORMAT = "uer-model"
VERSION = 1
SUFFIX = ".json"
# Keys a config JSON may hold (the model's hyper-parameters).
CONFIG_KEYS = ("emb_size", "hidden_size", "feedforward_size", "heads_num", "layers_num",
               "hidden_act", "dropout", "kernel_size", "block_size", "layernorm",
               "layernorm_eps", "layernorm_positioning", "synt_type")
MODEL_KEYS = ("embedding", "encoder", "target", "bidirectional",
              "factorized_embedding_parameterization", "parameter_sharing", "tie_weights")
# Options of a fine-tuning run that inference needs again.
TASK_OPTION_KEYS = ("pooling", "crf_target", "max_choices_num", "doc_stride",
                    "max_answer_length", "partial_answer")
# What a typed value must agree with. A pre-trained model gives its body only: its layers_num,
# target and heads may differ (fewer layers, another target are legitimate).
BODY_MUST_FIT = ("emb_size", "hidden_size", "feedforward_size", "heads_num", "hidden_act",
                 "kernel_size", "block_size", "layernorm", "layernorm_positioning", "synt_type",
                 "embedding", "encoder",
                 "bidirectional", "factorized_embedding_parameterization", "parameter_sharing")
WHOLE_MUST_FIT = BODY_MUST_FIT + ("layers_num", "labels_num", "pooling", "crf_target")
# Model-loading options, in the order they are looked for, and what they load.
MODEL_PATH_OPTIONS = (("load_model_path", "whole"), ("pretrained_model_path", "body"))


def sidecar_path(model_path):
    return model_path + SUFFIX


# --- writing ------------------------------------------------------------------------------
def _present(args, keys):
    return {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}


def _dataset_facts(args):
    """tokenizer and seq_length of the pre-training dataset (its header), when there is one."""
    path = getattr(args, "dataset_path", None)
    if not path or not os.path.isfile(path):
        return {}
    try:
        from uer.data.storage import read_header
        header = read_header(path)
    except (UerError, OSError, ValueError, KeyError):
        return {}
    return {key: header[key] for key in ("tokenizer", "seq_length") if key in header}


def task_facts(task):
    """name, labels_num and label map of a fine-tuning task (uer.finetune.task.Task)."""
    name = type(task).__name__
    facts = {"name": (name[:-4] if name.endswith("Task") else name).lower()}
    label_map = getattr(task, "label_map", None)
    if label_map is not None and hasattr(label_map, "ids"):  # NER: tag -> id, [PAD] added
        facts["labels_num"] = label_map.labels_num
        facts["label_map"] = {tag: i for tag, i in label_map.ids.items() if i != label_map.pad_id}
    elif getattr(task, "labels_nums", None) is not None:  # multi-task classification
        facts["labels_num"] = list(task.labels_nums)
        facts["task_names"] = list(getattr(task, "names", []))
        facts["label_map"] = [{str(i): i for i in range(n)} for n in task.labels_nums]
    elif getattr(task, "labels_num", None) is not None:  # labels are the ids themselves
        facts["labels_num"] = task.labels_num
        facts["label_map"] = {str(i): i for i in range(task.labels_num)}
    return facts


def describe(args, task=None, model_file=None):
    """The sidecar's content for a model built from ``args`` (and fine-tuned for ``task``)."""
    info = {"format": FORMAT, "version": VERSION}
    if model_file:
        info["model_file"] = os.path.basename(model_file)
    info["config"] = _present(args, CONFIG_KEYS)
    info["model"] = _present(args, MODEL_KEYS)
    vocab = getattr(args, "vocab", None)
    if vocab is not None:
        info["vocab"] = {"size": len(vocab), "checksum": vocab.checksum}
        source = getattr(args, "spm_model_path", None) or getattr(args, "vocab_path", None)
        if source:
            info["vocab"]["path"] = os.path.abspath(source)
    facts = _dataset_facts(args) if task is None else {}
    for key in ("tokenizer", "seq_length"):
        value = getattr(args, key, None) if task is not None else facts.get(key)
        if value is not None:
            info[key] = value
    check = getattr(args, "learning_check", None) if task is None else None
    if isinstance(check, dict):  # pre-training's last word on its model (uer.trainer)
        info["learning_check"] = check
    if task is not None:
        info["task"] = task_facts(task)
        info["task"]["options"] = _present(args, TASK_OPTION_KEYS)
    return info


def write_sidecar(model_path, args, task=None):
    write_info(model_path, describe(args, task, model_path))


def write_info(model_path, info):
    """Write ``info`` beside ``model_path`` atomically."""
    write_text(sidecar_path(model_path), json.dumps(info, indent=2, sort_keys=True) + "\n")


# --- reading ------------------------------------------------------------------------------
def read_sidecar(model_path):
    """The sidecar of ``model_path`` as a dict, or None when there is none."""
    path = sidecar_path(model_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UerError(f"{path}: the model's sidecar is not valid JSON ({err})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise UerError(f"{path}: not a model sidecar (no \"format\": \"{FORMAT}\")")
    return info


def saved_defaults(info, scope):
    """Option name -> value the sidecar gives, for a whole model or only its body."""
    values = dict(info.get("config", {}))
    model = dict(info.get("model", {}))
    if scope == "body":
        model.pop("target", None)
    values.update(model)
    if info.get("tokenizer") is not None:
        values["tokenizer"] = info["tokenizer"]
    if scope == "whole":
        if info.get("seq_length") is not None:
            values["seq_length"] = info["seq_length"]
        task = info.get("task") or {}
        values.update(task.get("options", {}))
        if isinstance(task.get("labels_num"), int):
            values["labels_num"] = task["labels_num"]
        if isinstance(task.get("label_map"), dict):
            values["label2id"] = task["label_map"]
    return values


def _model_path_option(args):
    for dest, scope in MODEL_PATH_OPTIONS:
        path = getattr(args, dest, None)
        if isinstance(path, str) and path:
            return dest, path, scope
    return None


class Sidecar:
    """A model's sidecar as it applies to one parsed command line."""

    def __init__(self, info, model_path, option, scope):
        self.info, self.model_path, self.option, self.scope = info, model_path, option, scope
        self.path = sidecar_path(model_path)
        self.defaults = saved_defaults(info, scope)

    def check_fits(self, args, typed, source):
        """Every key of ``typed`` the model fixes must agree with it; ``source`` names where
        a key's value came from (an option or the typed config file)."""
        must_fit = WHOLE_MUST_FIT if self.scope == "whole" else BODY_MUST_FIT
        for key in must_fit:
            if key in typed and key in self.defaults and getattr(args, key) != self.defaults[key]:
                raise UerError(f"{source(key)} does not fit {self.model_path}: {key} is "
                               f"{_shown(getattr(args, key))} here but "
                               f"{_shown(self.defaults[key])} in the model ({self.path})")

    def apply(self, args, typed, config_keys, config_path):
        """Fill every value neither typed nor in the typed config from the sidecar."""
        def source(key):
            if key in typed or key not in config_keys:
                return f"--{key}"
            return f"--config_path {config_path}"

        self.check_fits(args, set(typed) | set(config_keys), source)
        for key, value in self.defaults.items():
            if key not in typed and key not in config_keys:
                setattr(args, key, value)
        vocab = self.info.get("vocab") or {}
        if (vocab.get("path") and "vocab_path" not in typed and "spm_model_path" not in typed
                and not getattr(args, "vocab_path", None) and not getattr(args, "spm_model_path", None)
                and os.path.isfile(vocab["path"])):
            setattr(args, "vocab_path", vocab["path"])
        if vocab.get("checksum") or vocab.get("size"):
            # A plain dict (args may be pickled or saved): what check_vocab compares.
            args.saved_vocab = dict(vocab, model_path=self.model_path, sidecar=self.path)
        return args


def _shown(value):
    return json.dumps(value) if isinstance(value, (bool, str)) or value is None else str(value)


def find_sidecar(args):
    """The Sidecar of the model this command line loads, or None."""
    found = _model_path_option(args)
    if found is None:
        return None
    dest, path, scope = found
    info = read_sidecar(path)
    return None if info is None else Sidecar(info, path, f"--{dest}", scope)


def check_vocab(args, vocab):
    """A vocabulary other than the one the model was built with is refused, both named."""
    saved = getattr(args, "saved_vocab", None)
    if not saved:
        return
    checksum = saved.get("checksum")
    if saved.get("size", len(vocab)) != len(vocab) or checksum not in (None, vocab.checksum):
        built = f"{saved.get('size')} tokens" + (f", checksum {checksum}" if checksum else "")
        raise UerError(f"{vocab.source}: vocabulary of {len(vocab)} tokens, checksum "
                       f"{vocab.checksum}, but {saved['model_path']} was built with {built} "
                       f"({saved['sidecar']})")


def copy_sidecar(source_model, target_model, vocab=None):
    """A model derived from another (averaged, re-prefixed, vocabulary-adapted) gets the
    source's sidecar, if it has one; ``vocab`` (a uer.vocab.Vocab) replaces its vocabulary."""
    info = read_sidecar(source_model)
    if info is None:
        return
    info["model_file"] = os.path.basename(target_model)
    if vocab is not None:
        info["vocab"] = {"size": len(vocab), "checksum": vocab.checksum,
                         "path": os.path.abspath(vocab.source)}
    write_info(target_model, info)


def write_converted(model_path, config, target, vocab_size):
    """The sidecar of a BERT converted from another toolkit (scripts/convert_*_to_uer.py)."""
    from types import SimpleNamespace

    args = SimpleNamespace(**{key: config[key] for key in CONFIG_KEYS if key in config},
                           embedding="bert", encoder="bert", target=target)
    info = describe(args, model_file=model_path)
    info["vocab"] = {"size": int(vocab_size)}
    write_info(model_path, info)
