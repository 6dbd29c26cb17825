"""Sequence labelling (run_ner, inference/run_ner_infer): one tag per space-separated token.

Input layout ``[CLS] tokens [SEP]`` as in BERT (UER-py had no [CLS]); the outputs are read at
the token positions only. Training rows longer than --seq_length are cut; prediction covers
every token of a longer row by tagging it in consecutive windows of seq_length - 2 tokens."""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer.checkpoint import unwrap
from uer.constants import PAD_ID
from uer.errors import UerError
from uer.finetune.crf import CRF
from uer.finetune.heads import build_backbone
from uer.finetune.pooling import encode_real_positions
from uer.finetune.task import Task
from uer.finetune.tasks.ner_metrics import EntityScores
from uer.finetune.tsv import read_tsv
from uer.hparams import require
from uer.layers.onednn_linear import Linear

PAD_LABEL = "[PAD]"


class LabelMap:
    """Tag <-> id from label2id.json, plus UER-py's extra ``[PAD]`` tag with the last id (so a
    model has len(label2id) + 1 outputs, as UER-py's checkpoints do)."""

    def __init__(self, label2id, source="<memory>"):
        self.source = source
        self.tags = [None] * len(label2id)
        for tag, index in label2id.items():
            self.tags[index] = tag
        self.tags.append(PAD_LABEL)
        self.ids = {tag: index for index, tag in enumerate(self.tags)}

    @classmethod
    def from_file(cls, path):
        if not os.path.isfile(path):
            raise UerError(f"{path}: label2id file not found (--label2id_path)")
        try:
            with open(path, encoding="utf-8-sig") as handle:
                mapping = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UerError(f"{path}: not a JSON file ({err})") from None
        return cls(cls.checked(mapping, path), source=path)

    @staticmethod
    def checked(mapping, path):
        """A label2id object must map tags to the ids 0..n-1, each once, and contain ``O``."""
        if not isinstance(mapping, dict):
            raise UerError(f"{path}: label2id must be a JSON object mapping tags to ids")
        if not mapping:
            raise UerError(f"{path}: label2id is empty")
        if "O" not in mapping:
            raise UerError(f"{path}: label2id has no 'O' tag (the tag of tokens outside any entity)")
        if PAD_LABEL in mapping:
            raise UerError(f"{path}: label2id must not contain '{PAD_LABEL}' (it is added)")
        ids = list(mapping.values())
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise UerError(f"{path}: label2id ids must be integers")
        if sorted(ids) != list(range(len(ids))):
            raise UerError(f"{path}: label2id ids must be 0..{len(ids) - 1}, each used once "
                           f"(found {sorted(ids)})")
        return mapping

    @property
    def labels_num(self):
        return len(self.tags)

    @property
    def pad_id(self):
        return len(self.tags) - 1

    def names(self, ids):
        return [self.tags[i] for i in ids]


class TaggedSentence:
    """Token ids of one row and, when labelled, their tag ids (one per token)."""

    __slots__ = ("ids", "tags")

    def __init__(self, ids, tags=None):
        self.ids = ids
        self.tags = tags

    def __len__(self):
        return len(self.ids) + 2  # [CLS] ... [SEP]


def split_tokens(text):
    """SPEC §2.4: tokens separated by single spaces; an empty field has no token."""
    return text.split(" ") if text else []


def token_ids(tokens, vocab):
    """Vocabulary ids; a token not in the vocabulary tries its lower-case form, then [UNK]."""
    get, unk = vocab.w2i.get, vocab.unk_id
    return [get(token, get(token.lower(), unk)) for token in tokens]


def read_ner(path, vocab, label_map=None, max_tokens=None):
    """Rows of a NER TSV (``text_a`` and, with ``label_map``, ``label``). ``max_tokens`` cuts
    rows (training); without it rows keep every token."""
    required = ["text_a"] + (["label"] if label_map is not None else [])
    table = read_tsv(path, required=required)
    col_text = table.columns["text_a"]
    col_label = table.columns.get("label")
    examples = []
    for line_no, fields in table.rows:
        tokens = split_tokens(fields[col_text])
        tags = None
        if label_map is not None:
            names = split_tokens(fields[col_label])
            if len(names) != len(tokens):
                raise UerError(f"{path}:{line_no}: {len(tokens)} tokens but {len(names)} tags "
                               "(one tag per space-separated token is needed)")
            tags = []
            for name in names:
                index = label_map.ids.get(name)
                if index is None or name == PAD_LABEL:
                    raise UerError(f"{path}:{line_no}: tag '{name}' is not in "
                                   f"{label_map.source}")
                tags.append(index)
        ids = token_ids(tokens, vocab)
        if max_tokens is not None:
            ids = ids[:max_tokens]
            tags = None if tags is None else tags[:max_tokens]
        examples.append(TaggedSentence(ids, tags))
    return examples


class NerTagger(nn.Module):
    """forward(src, seg) -> tag logits [B, L, labels_num]. Keys: embedding.*, encoder.*,
    output_layer.* and, with a CRF, crf.*."""

    def __init__(self, args, labels_num, crf=False):
        super().__init__()
        self.embedding, self.encoder = build_backbone(args)
        self.labels_num = labels_num
        hidden = require(args, "hidden_size", "the NER head")
        self.output_layer = Linear(hidden, labels_num)
        self.crf = CRF(labels_num) if crf else None

    def forward(self, src, seg):
        # Tags are read at real positions only: inference may skip the padding rows.
        return self.output_layer(encode_real_positions(self.embedding, self.encoder, src, seg))


class NerTask(Task):
    """Token-level cross-entropy on real tokens (or the CRF's negative log-likelihood per
    token); prediction never emits the [PAD] tag. The metric is entity-level micro F1."""

    metric_name = "f1"

    def __init__(self, label_map, vocab, seq_length, crf=False):
        self.label_map = label_map
        self.cls_id, self.sep_id = vocab.cls_id, vocab.sep_id
        self.window = max(1, seq_length - 2)
        self.crf = crf

    # --- inputs and batches --------------------------------------------------------------
    def inputs(self, example):
        """Windows of at most seq_length - 2 tokens (one for any row that fits)."""
        if len(example.ids) <= self.window:
            return [example]
        pieces = []
        for start in range(0, len(example.ids), self.window):
            tags = None if example.tags is None else example.tags[start:start + self.window]
            pieces.append(TaggedSentence(example.ids[start:start + self.window], tags))
        return pieces

    def collate(self, inputs):
        longest = max(len(item) for item in inputs)
        src = np.full((len(inputs), longest), PAD_ID, dtype=np.int64)
        tags = np.full((len(inputs), longest), self.label_map.pad_id, dtype=np.int64)
        lengths = np.zeros(len(inputs), dtype=np.int64)
        for row, item in enumerate(inputs):
            n = len(item.ids)
            src[row, :n + 2] = [self.cls_id] + item.ids + [self.sep_id]
            lengths[row] = n
            if item.tags is not None:
                tags[row, 1:n + 1] = item.tags
        lengths = torch.from_numpy(lengths).unsqueeze(1)
        positions = torch.arange(longest).unsqueeze(0)
        batch = {"src": torch.from_numpy(src),
                 "seg": (positions < lengths + 2).long(),  # [CLS] tokens [SEP]: segment 1
                 "token_mask": positions[:, :-1] < lengths}
        if all(item.tags is not None for item in inputs):
            batch["tags"] = torch.from_numpy(tags[:, 1:])
        return batch

    # --- model ---------------------------------------------------------------------------
    def emissions(self, model, batch):
        """Tag scores at the token positions: [B, L - 1, labels] (position 0 is [CLS])."""
        return model(batch["src"], batch["seg"])[:, 1:]

    def loss(self, model, batch):
        emissions = self.emissions(model, batch).float()
        mask = batch["token_mask"]
        count = mask.sum().clamp(min=1)
        crf = unwrap(model).crf
        if crf is not None:
            rows = mask.any(dim=1)  # an empty row has no path to score
            return crf.neg_log_likelihood(emissions[rows], batch["tags"][rows], mask[rows]) / count
        return F.cross_entropy(emissions[mask], batch["tags"][mask])

    def forward(self, model, batch):
        """Predicted tag ids at the token positions, [B, L - 1]."""
        emissions = self.emissions(model, batch).float()
        emissions[..., self.label_map.pad_id] = torch.finfo(emissions.dtype).min
        crf = unwrap(model).crf
        if crf is not None:
            mask = batch["token_mask"].clone()
            mask[:, 0] = True  # Viterbi needs a first position; an empty row's output is cut
            return crf.decode(emissions, mask)
        return emissions.argmax(dim=-1)

    def output_length(self, model_input):
        return len(model_input.ids)

    def combine(self, example, outputs):
        """The windows' tags joined back into one row."""
        return torch.cat(outputs).tolist() if outputs else []

    # --- metric --------------------------------------------------------------------------
    def score(self, examples, outputs, detailed=False):
        names = self.label_map.names
        gold = [names(ex.tags) for ex in examples]
        pred = [names(tags) for tags in outputs]
        scores = EntityScores(gold, pred)
        precision, recall, f1, _ = scores.scores()
        print("Report precision, recall, and f1:")
        print(f"{precision:.3f}, {recall:.3f}, {f1:.3f}")
        if detailed:
            print(scores.table())
        return f1

