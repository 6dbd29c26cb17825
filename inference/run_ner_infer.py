"""Tag every token of a NER TSV (column text_a) with a fine-tuned model."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.errors import UerError, cli_main  # noqa: E402
from uer.finetune.cli import inference_opts, resolve  # noqa: E402
from uer.finetune.engine import Engine  # noqa: E402
from uer.finetune.tasks.ner import LabelMap, NerTagger, NerTask, read_ner  # noqa: E402
from uer.finetune.tasks.ner_infer import load_tagger, write_tags  # noqa: E402
from uer.finetune.tsv import read_tsv  # noqa: E402
from uer.logging_sinks import report_written  # noqa: E402
from uer.opts import new_parser  # noqa: E402


def build_parser():
    parser = new_parser(__doc__)
    inference_opts(parser, batch_size=128, seq_length=128, tokenizer=False, pooling=False)
    parser.add_argument("--label2id_path", type=str, default=None,
                        help="The label2id JSON used in training (default: the label map in "
                             "the model's .json sidecar).")
    parser.add_argument("--crf_target", action="store_true",
                        help="The model was trained with --crf_target (Viterbi decoding).")
    return parser


def saved_label_map(args):
    """--label2id_path, else the label map the model's sidecar recorded; both must agree."""
    saved = getattr(args, "label2id", None)
    if args.label2id_path:
        label_map = LabelMap.from_file(args.label2id_path)
        typed = {tag: i for tag, i in label_map.ids.items() if i != label_map.pad_id}
        if isinstance(saved, dict) and typed != saved:
            raise UerError(f"{args.label2id_path}: label2id {typed} differs from the one "
                           f"{args.load_model_path} was fine-tuned with {saved}")
        return label_map
    if not isinstance(saved, dict):
        raise UerError(f"--label2id_path is required: {args.load_model_path} has no .json "
                       "sidecar that gives the label map")
    return LabelMap(LabelMap.checked(saved, args.load_model_path + ".json"),
                    source=args.load_model_path + ".json")


def parse_args(argv=None):
    return resolve(build_parser(), argv)


@cli_main
def main(argv=None):
    args = parse_args(argv)
    args.dropout = 0.0
    label_map = saved_label_map(args)
    # A label column is optional; when present its tags are checked and the scores shown.
    labelled = read_tsv(args.test_path).has("label")
    examples = read_ner(args.test_path, args.vocab, label_map if labelled else None)
    model = load_tagger(NerTagger(args, label_map.labels_num, crf=args.crf_target),
                        args.load_model_path)
    task = NerTask(label_map, args.vocab, args.seq_length, crf=args.crf_target)
    engine = Engine(args, task, model)
    predictions = engine.predict(examples)
    write_tags(args.prediction_path, [label_map.names(tags) for tags in predictions])
    if labelled:
        task.score(examples, predictions, detailed=True)
    report_written(len(predictions), args.prediction_path)


if __name__ == "__main__":
    main()
