"""Predict labels (and optionally logits / probabilities) with a fine-tuned classifier."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer, inference_opts, resolve  # noqa: E402
from uer.finetune.encoding import PairEncoder  # noqa: E402
from uer.finetune.engine import Engine  # noqa: E402
from uer.finetune.heads import Classifier  # noqa: E402
from uer.finetune.metrics import report_classification  # noqa: E402
from uer.finetune.tasks.classifier import ClassificationTask, read_classification  # noqa: E402
from uer.finetune.tasks.classifier_infer import load_classifier, write_predictions  # noqa: E402
from uer.logging_sinks import report_written  # noqa: E402
from uer.opts import new_parser  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    inference_opts(parser, batch_size=128, seq_length=128)
    parser.add_argument("--labels_num", type=int, default=None,
                        help="Number of labels (default: from the model's .json sidecar).")
    parser.add_argument("--output_logits", action="store_true", help="Write the logits column.")
    parser.add_argument("--output_prob", action="store_true", help="Write the prob column.")
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    if args.labels_num is None:
        raise UerError(f"--labels_num is required: {args.load_model_path} has no .json sidecar "
                       "that gives it")
    if args.labels_num < 2:
        raise UerError(f"--labels_num must be at least 2, got {args.labels_num}")
    args.dropout = 0.0
    encoder = PairEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    # A label column is optional; when present it must fit --labels_num, and accuracy is shown.
    examples = read_classification(args.test_path, encoder, labels="optional",
                                   labels_num=args.labels_num)
    model = load_classifier(Classifier(args, args.labels_num), args.load_model_path)
    engine = Engine(args, ClassificationTask(args.labels_num), model)
    logits = engine.predict_stacked(examples)
    write_predictions(args.prediction_path, logits, args.output_logits, args.output_prob)
    if examples and all(ex.label is not None for ex in examples):
        gold = [ex.label for ex in examples]
        report_classification(logits.argmax(dim=-1), gold, args.labels_num)
    report_written(len(logits), args.prediction_path)


if __name__ == "__main__":
    main()
