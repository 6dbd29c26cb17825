"""Distillation helper: join a transfer set with a teacher's predictions into a training TSV
with a ``logits`` column (for run_classifier.py --soft_targets).

The transfer set is a TSV with ``text_a`` (and ``text_b``), optionally ``label``; the
predictions are inference/run_classifier_infer.py's output with ``--output_logits``. Rows are
matched by position. The label is the transfer set's own when it has one, else the teacher's."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.atomic import write_text  # noqa: E402
from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.tsv import parse_label, parse_logits, read_tsv  # noqa: E402
from uer.opts import new_parser  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    parser.add_argument("--input_path", required=True, help="Transfer set TSV (text_a [text_b] [label]).")
    parser.add_argument("--logits_path", required=True,
                        help="Teacher predictions (run_classifier_infer.py --output_logits).")
    parser.add_argument("--output_path", required=True, help="Joined TSV for the student.")
    parser.add_argument("--teacher_labels", action="store_true",
                        help="Use the teacher's predicted label even when the input has one.")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def join(input_path, logits_path, output_path, teacher_labels=False):
    source = read_tsv(input_path, required=("text_a",), optional=("text_b", "label"))
    teacher = read_tsv(logits_path, required=("label", "logits"))
    if len(source) != len(teacher):
        raise UerError(f"{logits_path}: {len(teacher)} predictions for {len(source)} rows of "
                       f"{input_path}")
    has_b = source.has("text_b")
    use_own = source.has("label") and not teacher_labels
    width = None
    lines = ["label\ttext_a" + ("\ttext_b" if has_b else "") + "\tlogits"]
    for (src_line, fields), (tea_line, tea_fields) in zip(source.rows, teacher.rows):
        logits = parse_logits(tea_fields[teacher.columns["logits"]], logits_path, tea_line, width)
        width = len(logits)
        if use_own:
            label = parse_label(fields[source.columns["label"]], input_path, src_line, width)
        else:
            label = parse_label(tea_fields[teacher.columns["label"]], logits_path, tea_line, width)
        row = [str(label), fields[source.columns["text_a"]]]
        if has_b:
            row.append(fields[source.columns["text_b"]])
        row.append(" ".join(repr(x) for x in logits))
        lines.append("\t".join(row))
    write_text(output_path, "\n".join(lines) + "\n")
    return len(lines) - 1


@cli_main
def main(argv=None):
    args = parse_args(argv)
    rows = join(args.input_path, args.logits_path, args.output_path, args.teacher_labels)
    print(f"Wrote {rows} rows with teacher logits to {args.output_path}")


if __name__ == "__main__":
    main()
