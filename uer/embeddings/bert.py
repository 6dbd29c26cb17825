"""BERT embedding: word + position + segment, then LayerNorm and dropout (SPEC §4.2)."""
import torch
from torch import nn

from uer.constants import MAX_POSITIONS
from uer.embeddings import str2embedding
from uer.errors import UerError
from uer.hparams import require
from uer.layers.dropout import Dropout
from uer.layers.layer_norm import layer_norm_from_args

# Segment rows: 0 = padding, 1 = first sentence, 2 = second sentence.
SEGMENT_ROWS = 3


@str2embedding.register("bert")
class BertEmbedding(nn.Module):
    def __init__(self, args, vocab_size):
        super().__init__()
        emb_size = require(args, "emb_size", "embedding bert")
        self.word_embedding = nn.Embedding(vocab_size, emb_size)
        self.position_embedding = nn.Embedding(MAX_POSITIONS, emb_size)
        self.segment_embedding = nn.Embedding(SEGMENT_ROWS, emb_size)
        self.layer_norm = layer_norm_from_args(args, emb_size)
        self.dropout = Dropout(require(args, "dropout", "embedding bert"))

    def forward(self, src, seg):
        seq_length = src.size(1)
        if seq_length > MAX_POSITIONS:
            raise UerError(f"sequence length {seq_length} exceeds the {MAX_POSITIONS} positions "
                           "of the bert embedding (lower --seq_length)")
        positions = torch.arange(seq_length, device=src.device)
        emb = (self.word_embedding(src) + self.position_embedding(positions)[None, :, :]
               + self.segment_embedding(seg))
        return self.dropout(self.layer_norm(emb))
