"""Multiple-choice reading comprehension, C3 (run_c3, inference/run_c3_infer; SPEC §2.5, §7.7).

A C3 file is a JSON list of documents ``[passage lines, questions, doc id?]``; each question is
``{"question", "choice": [...], "answer"?, "id"?}``. One question is one example and one model
input: for every real choice k the sequence ``[CLS] choice_k [SEP] question [SEP] passage [SEP]``
(segment 1 up to the second [SEP], segment 2 for ``passage [SEP]``). A batch is padded to
[B, max_choices_num, L]; ``choice_mask`` marks the real choices. Padded choice slots are neither
encoded nor scored: their logit is -inf, so they never win and get probability 0 (UER-py filled
them with "No Answer" sequences and let them compete).
"""
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer.atomic import atomic_open
from uer.constants import PAD_ID
from uer.errors import UerError
from uer.finetune.heads import build_backbone
from uer.finetune.metrics import report_classification
from uer.finetune.pooling import encode_for_pooling
from uer.finetune.jsonfile import load_json
from uer.finetune.task import Task
from uer.hparams import require
from uer.layers.onednn_linear import Linear

# [CLS] choice [SEP] question [SEP] passage [SEP]
SPECIAL_TOKENS_NUM = 4


class ChoiceQuestion:
    """One encoded question: ``choices`` = one ``(ids, first_len)`` per real choice (the segment-1
    part is ``[CLS] choice [SEP] question [SEP]``), ``label`` = index of the correct choice (None
    when the file has no answer), ``qid`` = the question's ``id`` (its 0-based position in the
    file when it has none), ``where`` = how error messages name it."""

    __slots__ = ("choices", "label", "qid", "where")

    def __init__(self, choices, label=None, qid=None, where=""):
        self.choices = choices
        self.label = label
        self.qid = qid
        self.where = where

    def __len__(self):
        """The longest choice sequence: what length-grouped batching needs."""
        return max(len(ids) for ids, _ in self.choices)


class ChoiceEncoder:
    """Token ids of the C3 layout, cut to ``seq_length``: the passage tail goes first, then the
    question tail, then (for a tiny ``seq_length`` only) the choice tail. Text is lower-cased
    as in UER-py."""

    def __init__(self, tokenizer, vocab, seq_length):
        if seq_length < SPECIAL_TOKENS_NUM:
            raise UerError(f"--seq_length must be at least {SPECIAL_TOKENS_NUM} for C3 "
                           f"([CLS] choice [SEP] question [SEP] passage [SEP]), got {seq_length}")
        self.tokenizer = tokenizer
        self.cls_id = vocab.cls_id
        self.sep_id = vocab.sep_id
        self.seq_length = seq_length

    def ids(self, text):
        return list(self.tokenizer.encode(text.lower()))

    def layout(self, choice_ids, question_ids, passage_ids):
        """``(ids, first_len)`` of one choice from already tokenized parts."""
        budget = self.seq_length - SPECIAL_TOKENS_NUM
        extra = len(choice_ids) + len(question_ids) + len(passage_ids) - budget
        if extra > 0:
            cut = min(extra, len(passage_ids))
            passage_ids = passage_ids[:len(passage_ids) - cut]
            extra -= cut
        if extra > 0:
            cut = min(extra, len(question_ids))
            question_ids = question_ids[:len(question_ids) - cut]
            extra -= cut
        if extra > 0:
            choice_ids = choice_ids[:len(choice_ids) - extra]
        cls, sep = self.cls_id, self.sep_id
        first = [cls] + choice_ids + [sep] + question_ids + [sep]
        return first + passage_ids + [sep], len(first)

    def encode(self, choice, question, passage):
        return self.layout(self.ids(choice), self.ids(question), self.ids(passage))


# --- reading ---------------------------------------------------------------------------------

def _question_name(path, doc_index, q_index, number, question):
    qid = question.get("id") if isinstance(question, dict) else None
    name = f"{path}: question {number} (document {doc_index + 1}, question {q_index + 1} of it"
    return name + (f", id {qid!r})" if qid is not None else ")")


def _is_text_list(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def iter_c3_questions(path, data):
    """Yield ``(passage, question dict, where)`` for every question of a parsed C3 file, after
    checking the structure (errors name the file, the document and the question)."""
    if not isinstance(data, list):
        raise UerError(f"{path}: expected a JSON list of documents "
                       "[[passage lines], [questions], doc id], found a JSON "
                       f"{type(data).__name__}")
    number = 0
    for doc_index, doc in enumerate(data):
        where_doc = f"{path}: document {doc_index + 1}"
        if not isinstance(doc, list) or len(doc) < 2:
            raise UerError(f"{where_doc}: expected [[passage lines], [questions], doc id]")
        lines, questions = doc[0], doc[1]
        if not _is_text_list(lines):
            raise UerError(f"{where_doc}: the passage (item 1) must be a list of strings")
        if not isinstance(questions, list):
            raise UerError(f"{where_doc}: the questions (item 2) must be a list")
        passage = "\n".join(lines)
        for q_index, question in enumerate(questions):
            number += 1
            where = _question_name(path, doc_index, q_index, number, question)
            if not isinstance(question, dict):
                raise UerError(f"{where}: expected an object with 'question' and 'choice'")
            if not isinstance(question.get("question"), str):
                raise UerError(f"{where}: 'question' is missing or not a string")
            if "choice" not in question or not _is_text_list(question["choice"]):
                raise UerError(f"{where}: 'choice' is missing or not a list of strings")
            if "answer" in question and not isinstance(question["answer"], str):
                raise UerError(f"{where}: 'answer' must be a string (the text of a choice)")
            yield passage, question, where


def read_c3(path, encoder, max_choices_num, answers=True):
    """Examples (``ChoiceQuestion``) of a C3 JSON file, in file order.

    ``answers``: True = every question needs an ``answer``, "optional" = read when present,
    False = ignored. Errors (one line, naming the file and the question): malformed JSON or
    structure, a question without choices or with more than ``max_choices_num``, an answer that
    is not one of the choices, a file without questions."""
    check_max_choices(max_choices_num)
    data = load_json(path)
    examples = []
    cache = {}  # passage text -> ids: a document's questions share its passage
    for position, (passage, question, where) in enumerate(iter_c3_questions(path, data)):
        choices = question["choice"]
        if not choices:
            raise UerError(f"{where}: has no choices")
        if len(choices) > max_choices_num:
            raise UerError(f"{where}: has {len(choices)} choices, more than --max_choices_num "
                           f"{max_choices_num}")
        label = None
        if answers:
            if "answer" not in question:
                if answers is True:
                    raise UerError(f"{where}: has no 'answer'")
            else:
                answer = question["answer"]
                if answer not in choices:
                    raise UerError(f"{where}: answer {answer!r} is not one of its choices "
                                   f"{choices!r}")
                label = choices.index(answer)  # the first equal choice (UER-py: the last)
        passage_ids = cache.get(passage)
        if passage_ids is None:
            passage_ids = cache[passage] = encoder.ids(passage)
        question_ids = encoder.ids(question["question"])
        encoded = [encoder.layout(encoder.ids(choice), question_ids, passage_ids)
                   for choice in choices]
        qid = question.get("id", position)
        examples.append(ChoiceQuestion(encoded, label, qid, where))
    if not examples:
        raise UerError(f"{path}: contains no questions")
    return examples


def check_max_choices(max_choices_num):
    if max_choices_num < 2:
        raise UerError(f"--max_choices_num must be at least 2, got {max_choices_num}")


# --- model -----------------------------------------------------------------------------------

class MultipleChoice(nn.Module):
    """forward(src [B, C, L], seg [B, C, L], choice_mask [B, C]) -> logits [B, C] (float32,
    -inf at padded choices). The real choices go through embedding + encoder as one flat batch;
    the hidden state at position 0 -> dropout -> ``output_layer`` (H -> 1). Keys: embedding.*,
    encoder.*, output_layer.{weight [1, H], bias} (SPEC §5.3)."""

    def __init__(self, args):
        super().__init__()
        self.embedding, self.encoder = build_backbone(args)
        hidden = require(args, "hidden_size", "the multiple-choice head")
        self.dropout = nn.Dropout(args.dropout)
        self.output_layer = Linear(hidden, 1)

    def forward(self, src, seg, choice_mask):
        batch, choices, length = src.shape
        real = choice_mask.reshape(-1)
        flat_src = src.reshape(-1, length)[real]
        flat_seg = seg.reshape(-1, length)[real]
        hidden = encode_for_pooling(self.embedding, self.encoder, flat_src, flat_seg, "first")
        scores = self.output_layer(self.dropout(hidden[:, 0])).squeeze(-1).float()
        logits = torch.full((batch * choices,), float("-inf"), dtype=torch.float32,
                            device=scores.device)
        return logits.masked_scatter(real, scores).view(batch, choices)


# --- task ------------------------------------------------------------------------------------

def stack(outputs):
    return torch.stack(outputs) if outputs else torch.zeros(0, 0)


class C3Task(Task):
    """Cross-entropy over the real choices of each question; the metric is accuracy."""

    metric_name = "accuracy"

    def __init__(self, max_choices_num):
        check_max_choices(max_choices_num)
        self.max_choices_num = max_choices_num

    def collate(self, inputs):
        count, choices = len(inputs), self.max_choices_num
        longest = max(len(item) for item in inputs)
        src = np.full((count, choices, longest), PAD_ID, dtype=np.int64)
        seg = np.zeros((count, choices, longest), dtype=np.int64)
        mask = np.zeros((count, choices), dtype=bool)
        for row, item in enumerate(inputs):
            if len(item.choices) > choices:  # the readers refuse these; a safety net
                raise UerError(f"{item.where}: has {len(item.choices)} choices, more than "
                               f"--max_choices_num {choices}")
            for k, (ids, first_len) in enumerate(item.choices):
                src[row, k, :len(ids)] = ids
                seg[row, k, :first_len] = 1
                seg[row, k, first_len:len(ids)] = 2
                mask[row, k] = True
        batch = {"src": torch.from_numpy(src), "seg": torch.from_numpy(seg),
                 "choice_mask": torch.from_numpy(mask)}
        if all(item.label is not None for item in inputs):
            batch["label"] = torch.tensor([item.label for item in inputs], dtype=torch.long)
        return batch

    def forward(self, model, batch):
        return model(batch["src"], batch["seg"], batch["choice_mask"])

    def loss(self, model, batch):
        return F.cross_entropy(self.forward(model, batch).float(), batch["label"])

    def score(self, examples, outputs, detailed=False):
        pred = predicted_choices(stack(outputs))
        gold = torch.tensor([ex.label for ex in examples], dtype=torch.long)
        return report_classification(pred, gold, self.max_choices_num, detailed)


def predicted_choices(logits):
    """argmax over the choices ([N, C] -> [N]); an empty input gives an empty result."""
    if logits.numel() == 0:
        return torch.zeros(len(logits), dtype=torch.long)
    return logits.argmax(dim=-1)


# --- inference -------------------------------------------------------------------------------

def check_c3_checkpoint(path, state):
    """A checkpoint of another task is refused with a hint before the strict load."""
    weight = state.get("output_layer.weight")
    if weight is None or weight.dim() != 2 or weight.size(0) != 1:
        found = "no output_layer.weight" if weight is None else \
            f"output_layer.weight has shape {list(weight.shape)}, not [1, hidden_size]"
        raise UerError(f"{path}: not a C3 multiple-choice checkpoint ({found}; was it saved by "
                       "run_c3.py?)")


def write_c3_predictions(path, examples, logits):
    """JSON lines ``{"id": <question id>, "label": <choice index>}`` in file order, written
    atomically (json.dumps' default ASCII escaping)."""
    pred = predicted_choices(logits).tolist()
    with atomic_open(path) as handle:
        for example, label in zip(examples, pred):
            handle.write(json.dumps({"id": example.qid, "label": int(label)}) + "\n")
