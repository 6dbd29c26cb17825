"""Running a model's embedding + encoder (and its heads) on text lines, for the utilities in
scripts/ (extract_feature, cloze_test, topn_words_dep, generate)."""
import torch
from torch import nn

from uer.model import build_embedding, build_encoder, build_target, check_combination


class Body(nn.Module):
    """``embedding`` + ``encoder`` (+ ``target`` when a target is given), with the checkpoint key
    names of the pre-training model; forward(src, seg) -> last-layer hidden states [B, L, H]."""

    def __init__(self, args, with_target=False):
        super().__init__()
        if with_target:
            check_combination(args)
        self.embedding = build_embedding(args)
        self.encoder = build_encoder(args)
        if with_target:
            self.target = build_target(args)

    def forward(self, src, seg):
        return self.encoder(self.embedding(src, seg), seg)


def cls_ids(tokenizer, vocab, text, seq_length):
    """``[CLS]`` + the ids of ``text``, cut to ``seq_length``."""
    return ([vocab.cls_id] + tokenizer.encode(text))[:seq_length]


def pad_batch(rows, seq_length):
    """src, seg LongTensors [B, seq_length]: seg 1 on the real tokens, 0 (and src 0) on padding."""
    src = torch.zeros(len(rows), seq_length, dtype=torch.long)
    seg = torch.zeros(len(rows), seq_length, dtype=torch.long)
    for index, ids in enumerate(rows):
        src[index, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        seg[index, :len(ids)] = 1
    return src, seg


def mlm_logits(target, hidden):
    """Vocabulary logits of the MLM head (mlm_linear_1 -> gelu -> layer_norm -> mlm_linear_2)
    for hidden states [..., H]."""
    import torch.nn.functional as F

    return target.mlm_linear_2(target.layer_norm(F.gelu(target.mlm_linear_1(hidden))))


MLM_PREFIXES = ("embedding.", "encoder.", "target.mlm_linear_1.", "target.layer_norm.",
                "target.mlm_linear_2.")
