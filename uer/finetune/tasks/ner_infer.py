"""NER inference: load a fine-tuned tagger strictly, write SPEC §2.6's tag file."""
from uer.atomic import atomic_open
from uer.checkpoint import load_model, read_state_dict
from uer.errors import UerError


def load_tagger(model, path):
    """The checkpoint must be a tagger for the same tag set, with a CRF exactly when the model
    has one; every key must match."""
    state = read_state_dict(path)
    weight = state.get("output_layer.weight")
    if weight is None or weight.dim() != 2:
        raise UerError(f"{path}: not a NER checkpoint (no output_layer.weight; was it saved by "
                       "run_ner.py?)")
    if weight.size(0) != model.labels_num:
        raise UerError(f"{path}: the model was fine-tuned with {weight.size(0) - 1} tags but "
                       f"--label2id_path has {model.labels_num - 1}")
    has_crf = "crf.transitions" in state
    if has_crf != (model.crf is not None):
        hint = "add --crf_target" if has_crf else "drop --crf_target"
        raise UerError(f"{path}: the model was fine-tuned {'with' if has_crf else 'without'} "
                       f"--crf_target ({hint})")
    load_model(model, path, strict=True, verbose=False)
    return model


def write_tags(path, rows):
    """Header ``pred_label``, then one line of space-separated tags per input row."""
    with atomic_open(path) as handle:
        handle.write("pred_label\n")
        for tags in rows:
            handle.write(" ".join(tags) + "\n")
