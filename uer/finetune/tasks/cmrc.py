"""Span-extraction reading comprehension (CMRC2018; run_cmrc and its inference script).

One question = one example (``CmrcExample``). Its passage is cut into windows
(``Window``), each one model input ``[CLS] question [SEP] window [SEP]`` (segment 1 for
``[CLS] question [SEP]``, 2 for the rest). The head gives a start and an end logit per position;
``CmrcTask.combine`` decodes the windows of a question into one answer string.

Tokens are characters: every character of the question and the passage is one token, looked up
in the vocabulary as itself, then lower-cased, then as [UNK]. Whitespace characters are tokens
too (the vocabulary's " " entry if it has one, else [UNK]), so a token position is a character
offset and an answer is cut from the original passage characters.

Windows (SPEC §7.6): ``max_ctx = seq_length - len(question) - 3`` passage characters fit. The
first window starts at 0; each has min(remaining, max_ctx) characters; once a window reaches the
end of the passage there is no other, else the next starts min(length, doc_stride) characters
later (``doc_stride`` is the step between window starts).

Labels are positions in the window's sequence, the end INCLUSIVE (a one-character answer has
start == end). A window holding the whole answer (answers[0]) points at it. A window holding no
part of it points at [CLS] (0, 0). A window holding part of it does what ``partial_answer``
says: "clip" (the default, as UER-py) points at the part inside the window, "cls" at [CLS].
Measured on a held-out part of dev.json (bert_tiny from random init): with UER-py's default
windows (--seq_length 100, --doc_stride 128, which do not overlap, so about 10% of the answers
are whole in no window) clip scored 2.0 Avg points higher (paired standard error 0.7); with
overlapping windows (256 / 128) the two were within noise (cls +0.4, standard error 0.5).
"""
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer.errors import UerError
from uer.finetune.batching import pad_src_seg
from uer.finetune.heads import build_backbone
from uer.finetune.jsonfile import load_json
from uer.finetune.pooling import encode_real_positions
from uer.finetune.task import Task
from uer.finetune.tasks.cmrc_metrics import evaluate, format_scores
from uer.hparams import require
from uer.layers.onednn_linear import Linear

PARTIAL_ANSWER_CHOICES = ("cls", "clip")
DEFAULT_PARTIAL_ANSWER = "clip"
N_BEST = 20  # start and end candidates kept per window when decoding


# Training memory. Windows make batches of many lengths, and glibc's heap fragments on them: the
# peak RSS of training at --seq_length 512 --batch_size 8 on bert_tiny (live peak about 1.2 GB)
# reached 2.9 GB in one epoch of 467 questions. Two remedies, measured on that run: batch lengths
# rounded up to a few sizes (``padded_length``: 2.0 GB, no cost seen) and, in run_cmrc.py, tensors
# of 8 MB or more in their own memory mappings (``uer.heap.limit_heap_fragmentation``: 1.65 GB
# together, about 10% slower; 1 MB gave 1.2 GB but 33% slower). The engine also trims the heap
# every 10 batches (uer/heap.py).


def padded_length(longest, limit):
    """Batch length: ``longest`` rounded up to a multiple of 1/16 to 1/8 of itself (at most
    12.5% more positions), never beyond ``limit`` (--seq_length)."""
    step = 1 << max(0, longest.bit_length() - 4)
    return max(longest, min(-(-longest // step) * step, limit))


# What a reader needs of the answers: "train" = answers[0] must sit at its answer_start (its
# position gives the labels); "eval" = at least one answer text per question (positions unused;
# the official dev file has answer_start -1 and a few offsets that are off by one or two);
# "none" = answers are not read (inference; the test file's answers are fakes).
ANSWER_MODES = ("train", "eval", "none")


def cmrc_opts(parser):
    """Options shared by run_cmrc.py and inference/run_cmrc_infer.py."""
    parser.add_argument("--doc_stride", type=int, default=128,
                        help="Characters between the starts of two consecutive passage windows.")
    parser.add_argument("--max_answer_length", type=int, default=30,
                        help="Longest answer (in characters) the decoder may predict.")


# --- characters -> ids ---------------------------------------------------------------------
class CharEncoder:
    """One id per character: the character, else its lower-case form, else [UNK]; every
    whitespace character is the vocabulary's " " token (else [UNK])."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.space_id = vocab.get(" ", vocab.unk_id)
        self._cache = {}

    def char_id(self, char):
        found = self._cache.get(char)
        if found is None:
            if char.isspace():
                found = self.space_id
            else:
                found = self.vocab.get(char)
                if found is None:
                    found = self.vocab.get(char.lower(), self.vocab.unk_id)
            self._cache[char] = found
        return found

    def encode(self, text):
        return np.fromiter((self.char_id(c) for c in text), dtype=np.int64, count=len(text))


# --- examples and the reader ---------------------------------------------------------------
class CmrcExample:
    """One question: ``qid`` (a string), the ``question`` (edge whitespace stripped) and
    ``context`` texts, gold answer ``answers`` (texts), ``answer_start`` of answers[0] when it
    was checked (training), the character ids, and the source file (for error messages)."""

    __slots__ = ("qid", "question", "context", "answers", "answer_start", "question_ids",
                 "context_ids", "source", "_windows")

    def __init__(self, qid, question, context, answers=(), answer_start=None, encoder=None,
                 context_ids=None, source="<memory>"):
        self.qid = qid
        self.question = question
        self.context = context
        self.answers = list(answers)
        self.answer_start = answer_start
        if encoder is not None:
            self.question_ids = encoder.encode(question)
            self.context_ids = encoder.encode(context) if context_ids is None else context_ids
        else:
            self.question_ids = self.context_ids = None
        self.source = source
        self._windows = None

    @property
    def answer_end(self):
        """Inclusive character offset of the last answer character (None without a label)."""
        if self.answer_start is None:
            return None
        return self.answer_start + len(self.answers[0]) - 1


def _short(text, limit=40):
    return repr(text if len(text) <= limit else text[:limit] + "...")


def question_too_long(path, qid, length, seq_length):
    return (f"{path}: question {qid} is {length} characters long: with --seq_length "
            f"{seq_length} no passage character fits after [CLS] question [SEP] ... [SEP] "
            f"(questions can have at most {seq_length - 4} characters; raise --seq_length)")


def _field(mapping, key, kind, where, kind_name):
    if not isinstance(mapping, dict):
        raise UerError(f"{where}: expected a JSON object")
    if key not in mapping:
        raise UerError(f"{where}: missing key '{key}'")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UerError(f"{where}: '{key}' must be {kind_name}, got {type(value).__name__}")
    return value


def _training_answer(path, qid, context, answers):
    """Check answers[0] against the context; return its start offset."""
    where = f"{path}: question {qid}"
    if not answers:
        raise UerError(f"{where}: 'answers' is empty (training needs an answer)")
    text = _field(answers[0], "text", str, f"{where}, answer 1", "a string")
    start = _field(answers[0], "answer_start", int, f"{where}, answer 1", "an integer")
    if not text:
        raise UerError(f"{where}: the answer text is empty")
    if not 0 <= start < len(context):
        raise UerError(f"{where}: answer_start {start} is outside the context "
                       f"({len(context)} characters)")
    found = context[start:start + len(text)]
    if found != text:
        places = [i for i in range(len(context)) if context.startswith(text, i)]
        hint = ""
        if places:
            hint = f"; the answer occurs at {min(places, key=lambda i: abs(i - start))}"
        raise UerError(f"{where}: the context at answer_start {start} reads {_short(found)}, "
                       f"not the answer {_short(text)}{hint}")
    return start


def read_cmrc(path, vocab, seq_length=None, answers="train"):
    """Examples of a SQuAD-style CMRC file (SPEC §2.5), one per question, in file order.

    ``answers`` is one of ANSWER_MODES. With ``seq_length`` every question must leave room for
    at least one passage character. Every problem is a UerError naming the file (and the
    question id where there is one)."""
    if answers not in ANSWER_MODES:
        raise ValueError(f"answers must be one of {ANSWER_MODES}")
    encoder = CharEncoder(vocab)
    document = load_json(path)
    articles = _field(document, "data", list, path, "a list")
    examples, seen = [], set()
    for i, article in enumerate(articles):
        paragraphs = _field(article, "paragraphs", list, f"{path}: data[{i}]", "a list")
        for j, paragraph in enumerate(paragraphs):
            where = f"{path}: data[{i}].paragraphs[{j}]"
            context = _field(paragraph, "context", str, where, "a string")
            qas = _field(paragraph, "qas", list, where, "a list")
            if not context and qas:
                raise UerError(f"{where}: the context is empty")
            context_ids = encoder.encode(context)
            for k, qa in enumerate(qas):
                qid = str(_field(qa, "id", (str, int), f"{where}.qas[{k}]",
                                  "a string or an integer"))
                if qid in seen:
                    raise UerError(f"{path}: question id {qid} appears twice")
                seen.add(qid)
                qwhere = f"{path}: question {qid}"
                question = _field(qa, "question", str, qwhere, "a string").strip()
                if seq_length is not None and seq_length - len(question) - 3 < 1:
                    raise UerError(question_too_long(path, qid, len(question), seq_length))
                texts, start = [], None
                if answers != "none":
                    entries = _field(qa, "answers", list, qwhere, "a list")
                    if not entries:
                        raise UerError(f"{qwhere}: 'answers' is empty (evaluation needs at "
                                       "least one answer text)")
                    texts = [_field(entry, "text", str, f"{qwhere}, answer {n}", "a string")
                             for n, entry in enumerate(entries, 1)]
                    if answers == "train":
                        start = _training_answer(path, qid, context, entries)
                examples.append(CmrcExample(qid, question, context, texts, start, encoder,
                                            context_ids, source=path))
    if answers == "train" and not examples:
        raise UerError(f"{path}: no questions to train on")
    return examples


# --- windows -------------------------------------------------------------------------------
class Window:
    """One model input: ``ids`` = [CLS] question [SEP] passage[offset:offset+length] [SEP];
    ``first_len`` = len(question) + 2 (segment 1); ``start``/``end`` = label positions in
    ``ids`` (end inclusive; None when the example has no checked answer)."""

    __slots__ = ("ids", "first_len", "offset", "length", "start", "end")

    def __init__(self, ids, first_len, offset, length, start=None, end=None):
        self.ids = ids
        self.first_len = first_len
        self.offset = offset
        self.length = length
        self.start = start
        self.end = end

    def __len__(self):
        return len(self.ids)


def window_spans(context_length, max_ctx, doc_stride):
    """``(offset, length)`` of the windows of a passage (SPEC §7.6; see the module docstring)."""
    if max_ctx < 1 or doc_stride < 1:
        raise ValueError("max_ctx and doc_stride must be positive")
    spans, offset = [], 0
    while offset < context_length:
        length = min(context_length - offset, max_ctx)
        spans.append((offset, length))
        if offset + length >= context_length:
            break
        offset += min(length, doc_stride)
    return spans


def window_labels(answer_start, answer_end, offset, length, first_len, partial_answer):
    """(start, end) label positions (end inclusive) for an answer at characters
    answer_start..answer_end (inclusive) in the window of ``length`` characters at ``offset``."""
    last = offset + length - 1
    if offset <= answer_start and answer_end <= last:
        return first_len + answer_start - offset, first_len + answer_end - offset
    overlaps = answer_start <= last and answer_end >= offset
    if overlaps and partial_answer == "clip":
        return (first_len + max(answer_start, offset) - offset,
                first_len + min(answer_end, last) - offset)
    return 0, 0


# --- decoding ------------------------------------------------------------------------------
def best_span(logits, first_len, length, max_answer_length, n_best=N_BEST):
    """Best ``(score, start, end)`` of one window, offsets relative to the window's passage
    (end inclusive), or None. ``logits``: [positions, 2] (start, end). Candidates are the
    ``n_best`` highest start and end logits over the passage positions; a span is valid when
    start <= end and it has at most ``max_answer_length`` characters; score = start + end logit."""
    if length < 1:
        return None
    passage = logits[first_len:first_len + length].float()
    count = min(n_best, passage.size(0))
    start_values, start_index = passage[:, 0].topk(count)
    end_values, end_index = passage[:, 1].topk(count)
    span_length = end_index.unsqueeze(0) - start_index.unsqueeze(1) + 1  # [start, end]
    valid = (span_length >= 1) & (span_length <= max_answer_length)
    if not bool(valid.any()):
        return None
    scores = start_values.unsqueeze(1) + end_values.unsqueeze(0)
    scores = scores.masked_fill(~valid, -float("inf"))
    flat = int(scores.argmax())
    row, column = divmod(flat, count)
    return float(scores[row, column]), int(start_index[row]), int(end_index[column])


# --- the task and its model ----------------------------------------------------------------
class CmrcTask(Task):
    """Windows in, start/end logits out; combine = best span over a question's windows;
    score = CMRC2018 (F1 + EM) / 2 (``cmrc_metrics``)."""

    metric_name = "Avg"

    def __init__(self, vocab, seq_length, doc_stride=128, max_answer_length=30,
                 partial_answer=DEFAULT_PARTIAL_ANSWER, n_best=N_BEST):
        if doc_stride < 1:
            raise UerError(f"--doc_stride must be at least 1, got {doc_stride}")
        if max_answer_length < 1:
            raise UerError(f"--max_answer_length must be at least 1, got {max_answer_length}")
        if partial_answer not in PARTIAL_ANSWER_CHOICES:
            raise UerError(f"--partial_answer {partial_answer}: expected one of "
                           f"{', '.join(PARTIAL_ANSWER_CHOICES)}")
        self.cls_id = vocab.cls_id
        self.sep_id = vocab.sep_id
        self.seq_length = seq_length
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length
        self.partial_answer = partial_answer
        self.n_best = n_best

    def windows(self, example):
        first_len = len(example.question_ids) + 2
        max_ctx = self.seq_length - len(example.question_ids) - 3
        if max_ctx < 1:
            raise UerError(question_too_long(example.source, example.qid,
                                             len(example.question_ids), self.seq_length))
        prefix = np.concatenate([[self.cls_id], example.question_ids, [self.sep_id]])
        suffix = np.array([self.sep_id], dtype=np.int64)
        labelled = example.answer_start is not None
        result = []
        for offset, length in window_spans(len(example.context_ids), max_ctx, self.doc_stride):
            ids = np.concatenate([prefix, example.context_ids[offset:offset + length], suffix])
            start = end = None
            if labelled:
                start, end = window_labels(example.answer_start, example.answer_end, offset,
                                           length, first_len, self.partial_answer)
            result.append(Window(ids, first_len, offset, length, start, end))
        return result

    def inputs(self, example):
        # Cached on the example, for this task's settings (dev windows are reused every epoch).
        key = (self.seq_length, self.doc_stride, self.partial_answer, self.cls_id, self.sep_id)
        if example._windows is None or example._windows[0] != key:
            example._windows = (key, self.windows(example))
        return example._windows[1]

    def collate(self, windows):
        src, seg = pad_src_seg(windows)
        longest = src.size(1)
        target = padded_length(longest, self.seq_length)
        if target > longest:  # padding is 0 in both src and seg
            src = F.pad(src, (0, target - longest))
            seg = F.pad(seg, (0, target - longest))
        batch = {"src": src, "seg": seg}
        if all(w.start is not None for w in windows):
            batch["start"] = torch.tensor([w.start for w in windows], dtype=torch.long)
            batch["end"] = torch.tensor([w.end for w in windows], dtype=torch.long)
        return batch

    def forward(self, model, batch):
        return model(batch["src"], batch["seg"])

    def loss(self, model, batch):
        """(CE(start) + CE(end)) / 2; padding positions take no probability."""
        logits = self.forward(model, batch).float()
        padding = (batch["seg"] == 0).unsqueeze(-1)
        logits = logits.masked_fill(padding, torch.finfo(logits.dtype).min)
        start_loss = F.cross_entropy(logits[..., 0], batch["start"])
        end_loss = F.cross_entropy(logits[..., 1], batch["end"])
        return (start_loss + end_loss) / 2

    def output_length(self, window):
        return len(window.ids)

    def combine(self, example, outputs):
        """The answer text (original passage characters) of the best span over all windows,
        or None when no window has a valid span."""
        best = None
        for window, logits in zip(self.inputs(example), outputs, strict=True):
            span = best_span(logits, window.first_len, window.length, self.max_answer_length,
                             self.n_best)
            if span is not None and (best is None or span[0] > best[0]):
                best = (span[0], window.offset + span[1], window.offset + span[2])
        if best is None:
            return None
        return example.context[best[1]:best[2] + 1]

    def score(self, examples, outputs, detailed=False):
        scores = evaluate([ex.answers for ex in examples], outputs)
        print(format_scores(scores), flush=True)
        return scores.avg


class MachineReadingComprehension(nn.Module):
    """forward(src, seg) -> [B, L, 2] logits (0 = start, 1 = end) for every position (without
    autograd for the passage positions only, 0 elsewhere).
    Keys: embedding.*, encoder.*, output_layer_1.* [H, H], output_layer_2.* [2, H]."""

    def __init__(self, args):
        super().__init__()
        self.embedding, self.encoder = build_backbone(args)
        hidden = require(args, "hidden_size", "the reading-comprehension head")
        self.output_layer_1 = Linear(hidden, hidden)
        self.output_layer_2 = Linear(hidden, 2)

    def forward(self, src, seg):
        if torch.is_grad_enabled() or not getattr(self.encoder, "can_compute_row_subset", False):
            # training: every position's logit enters the softmax of the loss
            hidden = encode_real_positions(self.embedding, self.encoder, src, seg)
            return self._head(hidden)
        # Prediction reads the passage (segment 2) only: the last layer and the head skip the
        # other rows, whose logits stay 0.
        passage = seg == 2
        hidden = self.encoder(self.embedding(src, seg), seg, rows=passage)
        read = self._head(hidden[passage])
        logits = read.new_zeros(hidden.shape[:-1] + (2,))
        logits[passage] = read
        return logits

    def _head(self, hidden):
        return self.output_layer_2(torch.tanh(self.output_layer_1(hidden)))


def prediction_json(examples, answers):
    """``{question id: answer}`` as UER-py writes it (indent 4, non-ASCII kept, final
    newline); a question without a valid span gets ""."""
    table = {ex.qid: ("" if answer is None else answer) for ex, answer in zip(examples, answers)}
    return json.dumps(table, indent=4, ensure_ascii=False) + "\n"
