"""Classifier inference: load a fine-tuned model strictly, predict, write SPEC §2.6's TSV."""
import torch

from uer.atomic import atomic_open
from uer.checkpoint import load_model, read_state_dict
from uer.errors import UerError


def check_labels_num(path, labels_num):
    """A model fine-tuned with another number of labels is refused with both numbers named."""
    state = read_state_dict(path)
    weight = state.get("output_layer_2.weight")
    if weight is None:
        raise UerError(f"{path}: not a classifier checkpoint (no output_layer_2.weight; "
                       "was it saved by run_classifier.py or run_dbqa.py?)")
    if weight.size(0) != labels_num:
        raise UerError(f"{path}: the model was fine-tuned with {weight.size(0)} labels but "
                       f"--labels_num is {labels_num}")


def load_classifier(model, path):
    """Every key of the model must come from the checkpoint, with the same shape."""
    check_labels_num(path, model.labels_num)
    load_model(model, path, strict=True, verbose=False)
    return model


def format_floats(values):
    return " ".join(str(float(v)) for v in values)


def write_predictions(path, logits, output_logits=False, output_prob=False):
    """Header ``label`` [+ ``logits``] [+ ``prob``]; one row per input, written atomically."""
    header = ["label"] + (["logits"] if output_logits else []) + (["prob"] if output_prob else [])
    probs = torch.softmax(logits, dim=-1) if output_prob else None
    pred = logits.argmax(dim=-1) if len(logits) else torch.zeros(0, dtype=torch.long)
    with atomic_open(path) as handle:
        handle.write("\t".join(header) + "\n")
        for row in range(len(logits)):
            fields = [str(int(pred[row]))]
            if output_logits:
                fields.append(format_floats(logits[row].tolist()))
            if output_prob:
                fields.append(format_floats(probs[row].tolist()))
            handle.write("\t".join(fields) + "\n")
