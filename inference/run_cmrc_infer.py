"""Answer CMRC2018-style questions with a fine-tuned model; writes {question id: answer} JSON."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.atomic import write_text  # noqa: E402
from uer.checkpoint import load_model  # noqa: E402
from uer.errors import cli_main  # noqa: E402
from uer.finetune.cli import inference_opts, resolve  # noqa: E402
from uer.finetune.engine import Engine  # noqa: E402
from uer.finetune.tasks.cmrc import (CmrcTask, MachineReadingComprehension,  # noqa: E402
                                     cmrc_opts, prediction_json, read_cmrc)
from uer.logging_sinks import report_written  # noqa: E402
from uer.opts import new_parser  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    inference_opts(parser, batch_size=64, seq_length=512, tokenizer=False, pooling=False)
    cmrc_opts(parser)
    return parser


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    args.dropout = 0.0
    task = CmrcTask(args.vocab, args.seq_length, args.doc_stride, args.max_answer_length)
    # Answers are not read: the public test file carries fake ones (answer_start -1).
    examples = read_cmrc(args.test_path, args.vocab, args.seq_length, answers="none")
    model = MachineReadingComprehension(args)
    load_model(model, args.load_model_path, strict=True, verbose=False)
    answers = Engine(args, task, model).predict(examples)
    write_text(args.prediction_path, prediction_json(examples, answers))
    report_written(len(answers), args.prediction_path, "answers")


if __name__ == "__main__":
    main()
