"""Models of the classification family: shared embedding + encoder, then a task head.

Parameter names are UER-py's (SPEC §5.3), so fine-tuned checkpoints are interchangeable."""
import torch
from torch import nn

from uer.finetune.pooling import encode_for_pooling, pool
from uer.hparams import require
from uer.layers.onednn_linear import Linear


def build_backbone(args):
    """(embedding, encoder) chosen by --embedding / --encoder and sized by the config."""
    from uer.model import build_embedding, build_encoder

    return build_embedding(args), build_encoder(args)


class Classifier(nn.Module):
    """forward(src, seg) -> logits [B, labels_num]. Keys: embedding.*, encoder.*,
    output_layer_1.*, output_layer_2.*."""

    def __init__(self, args, labels_num):
        super().__init__()
        self.embedding, self.encoder = build_backbone(args)
        self.pooling = args.pooling
        self.labels_num = labels_num
        hidden = require(args, "hidden_size", "the classifier head")
        self.output_layer_1 = Linear(hidden, hidden)
        self.output_layer_2 = Linear(hidden, labels_num)

    def forward(self, src, seg):
        hidden = encode_for_pooling(self.embedding, self.encoder, src, seg, self.pooling)
        pooled = pool(hidden, seg, self.pooling)
        return self.output_layer_2(torch.tanh(self.output_layer_1(pooled)))


class MultiTaskClassifier(nn.Module):
    """One shared embedding + encoder, one head per task. forward(src, seg, task) -> logits of
    that task. Keys: output_layers_1.<t>.*, output_layers_2.<t>.*."""

    def __init__(self, args, labels_nums):
        super().__init__()
        self.embedding, self.encoder = build_backbone(args)
        self.pooling = args.pooling
        self.labels_nums = list(labels_nums)
        hidden = require(args, "hidden_size", "the classifier heads")
        self.output_layers_1 = nn.ModuleList([Linear(hidden, hidden) for _ in labels_nums])
        self.output_layers_2 = nn.ModuleList([Linear(hidden, n) for n in labels_nums])

    def forward(self, src, seg, task):
        hidden = encode_for_pooling(self.embedding, self.encoder, src, seg, self.pooling)
        pooled = pool(hidden, seg, self.pooling)
        return self.output_layers_2[task](torch.tanh(self.output_layers_1[task](pooled)))
