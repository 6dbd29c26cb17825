"""Predict the choice of every C3 question with a fine-tuned multiple-choice model (JSON lines)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.checkpoint import load_model, read_state_dict  # noqa: E402
from uer.errors import cli_main  # noqa: E402
from uer.finetune.cli import build_tokenizer, inference_opts, resolve  # noqa: E402
from uer.finetune.engine import Engine  # noqa: E402
from uer.finetune.metrics import report_classification  # noqa: E402
from uer.finetune.tasks.c3 import (C3Task, ChoiceEncoder, MultipleChoice,  # noqa: E402
                                   check_c3_checkpoint, check_max_choices, predicted_choices,
                                   read_c3, write_c3_predictions)
from uer.logging_sinks import report_written  # noqa: E402
from uer.opts import new_parser  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    inference_opts(parser, batch_size=32, seq_length=512, pooling=False)
    parser.add_argument("--max_choices_num", type=int, default=4,
                        help="Most choices a question may have; fewer are padded and masked.")
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    check_max_choices(args.max_choices_num)
    args.dropout = 0.0
    encoder = ChoiceEncoder(build_tokenizer(args), args.vocab, args.seq_length)
    # Answers are optional (C3's test file has none); when every question has one, the accuracy
    # is printed too.
    examples = read_c3(args.test_path, encoder, args.max_choices_num, answers="optional")
    check_c3_checkpoint(args.load_model_path, read_state_dict(args.load_model_path))
    model = MultipleChoice(args)
    load_model(model, args.load_model_path, strict=True, verbose=False)
    engine = Engine(args, C3Task(args.max_choices_num), model)
    logits = engine.predict_stacked(examples)
    write_c3_predictions(args.prediction_path, examples, logits)
    if all(ex.label is not None for ex in examples):
        gold = [ex.label for ex in examples]
        report_classification(predicted_choices(logits), gold, args.max_choices_num)
    report_written(len(examples), args.prediction_path)


if __name__ == "__main__":
    main()
