"""NER, CMRC and C3 rows of bench/finetune_bench.py: our task models against HuggingFace's
BertForTokenClassification, BertForQuestionAnswering and BertForMultipleChoice of the same sizes,
on the same batches (built by our tasks' collate from the real data, padded to the longest
input of each batch), trained with the same AdamW.

Each ``*_case`` returns a ``Case``: our (model, loss, predict) and HF's, plus the batches."""
import os
from collections import namedtuple

import numpy as np
import torch

from uer.finetune.batching import length_sorted_batches, shuffled_batches

Case = namedtuple("Case", "name note ours hf train_batches infer_batches")
Contender = namedtuple("Contender", "name model loss predict")


def run_contender(contender, optimizer, batch, train):
    """One timed unit: a training step (loss, backward, optimizer step) or a prediction."""
    if train:
        contender.loss(batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    else:
        contender.predict(batch)


def hf_config(config, vocab_size, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=config["hidden_size"],
                      num_hidden_layers=config["layers_num"],
                      num_attention_heads=config["heads_num"],
                      intermediate_size=config["feedforward_size"],
                      hidden_dropout_prob=config["dropout"],
                      attention_probs_dropout_prob=config["dropout"],
                      max_position_embeddings=512, type_vocab_size=3, **extra)


def _batches(task, inputs, batch_size, train_batches, infer_examples):
    order = shuffled_batches(inputs, batch_size, np.random.default_rng(7))
    train = [task.collate(chunk) for chunk in order[:train_batches + 2]]
    subset = inputs[:infer_examples]
    infer = [task.collate([subset[i] for i in indices])
             for indices in length_sorted_batches(subset, batch_size)]
    return train, infer


def _ours(task, model):
    return Contender("ours", model, lambda batch: task.loss(model, batch),
                     lambda batch: task.forward(model, batch))


def _mask(batch):
    return (batch["seg"] > 0).long()


def ner_case(args, margs, config, vocab, shared):
    from transformers import BertForTokenClassification

    from uer.finetune.tasks.ner import LabelMap, NerTagger, NerTask, read_ner

    folder = os.path.join(shared, "datasets", "msra_ner")
    label_map = LabelMap.from_file(os.path.join(folder, "label2id.json"))
    task = NerTask(label_map, vocab, args.ner_seq_length)
    examples = read_ner(os.path.join(folder, "train.tsv"), vocab, label_map,
                        max_tokens=args.ner_seq_length - 2)
    train, infer = _batches(task, examples, args.ner_batch_size, args.train_batches,
                            args.infer_examples)
    ours = NerTagger(margs, label_map.labels_num)
    hf = BertForTokenClassification(hf_config(config, len(vocab),
                                              num_labels=label_map.labels_num))

    def hf_labels(batch):
        labels = torch.full_like(batch["src"], -100)
        tags = labels[:, 1:]
        tags[batch["token_mask"]] = batch["tags"][batch["token_mask"]]
        return labels

    def hf_loss(batch):
        return hf(input_ids=batch["src"], attention_mask=_mask(batch), token_type_ids=batch["seg"],
                  labels=hf_labels(batch)).loss

    def hf_predict(batch):
        return hf(input_ids=batch["src"], attention_mask=_mask(batch),
                  token_type_ids=batch["seg"]).logits.argmax(dim=-1)

    note = (f"MSRA-NER train.tsv, seq_length {args.ner_seq_length}, batch "
            f"{args.ner_batch_size}")
    return Case("NER", note, _ours(task, ours),
                Contender("HF BertForTokenClassification", hf, hf_loss, hf_predict),
                train, infer)


def cmrc_case(args, margs, config, vocab, shared):
    from transformers import BertForQuestionAnswering

    from uer.finetune.tasks.cmrc import CmrcTask, MachineReadingComprehension, read_cmrc

    path = os.path.join(shared, "datasets", "cmrc2018", "dev.json")
    task = CmrcTask(vocab, args.cmrc_seq_length)
    # dev.json has a few answer_start offsets that are off by one or two (run_cmrc refuses
    # them): for timing, each question's first answer is labelled where its text first occurs.
    examples = read_cmrc(path, vocab, args.cmrc_seq_length, answers="eval")
    for example in examples:
        found = example.context.find(example.answers[0])
        example.answer_start = found if found >= 0 else None
    windows = [w for ex in examples if ex.answer_start is not None for w in task.inputs(ex)]
    train, infer = _batches(task, windows, args.cmrc_batch_size, args.train_batches,
                            args.infer_examples)
    ours = MachineReadingComprehension(margs)
    hf = BertForQuestionAnswering(hf_config(config, len(vocab)))

    def hf_loss(batch):
        return hf(input_ids=batch["src"], attention_mask=_mask(batch), token_type_ids=batch["seg"],
                  start_positions=batch["start"], end_positions=batch["end"]).loss

    def hf_predict(batch):
        out = hf(input_ids=batch["src"], attention_mask=_mask(batch), token_type_ids=batch["seg"])
        return torch.stack([out.start_logits, out.end_logits], dim=-1)

    note = (f"CMRC2018 dev.json windows, seq_length {args.cmrc_seq_length}, batch "
            f"{args.cmrc_batch_size}")
    return Case("CMRC", note, _ours(task, ours),
                Contender("HF BertForQuestionAnswering", hf, hf_loss, hf_predict), train, infer)


def c3_case(args, margs, config, vocab, shared):
    from transformers import BertForMultipleChoice

    from uer.finetune.tasks.c3 import C3Task, ChoiceEncoder, MultipleChoice, read_c3
    from uer.tokenizers import str2tokenizer

    path = os.path.join(shared, "datasets", "c3", "dev.json")
    tokenizer = str2tokenizer["bert"](margs)
    encoder = ChoiceEncoder(tokenizer, vocab, args.c3_seq_length)
    task = C3Task(4)
    examples = read_c3(path, encoder, 4)
    train, infer = _batches(task, examples, args.c3_batch_size, args.train_batches,
                            args.infer_examples)
    ours = MultipleChoice(margs)
    hf = BertForMultipleChoice(hf_config(config, len(vocab)))

    def hf_inputs(batch):
        return dict(input_ids=batch["src"], attention_mask=_mask(batch),
                    token_type_ids=batch["seg"])

    def hf_loss(batch):
        # HF scores every choice slot, padded ones too (it has no choice mask).
        return hf(**hf_inputs(batch), labels=batch["label"]).loss

    def hf_predict(batch):
        return hf(**hf_inputs(batch)).logits

    note = f"C3 dev.json, 4 choice slots, seq_length {args.c3_seq_length}, batch {args.c3_batch_size}"
    return Case("C3", note, _ours(task, ours),
                Contender("HF BertForMultipleChoice", hf, hf_loss, hf_predict), train, infer)


CASES = {"ner": ner_case, "cmrc": cmrc_case, "c3": c3_case}
