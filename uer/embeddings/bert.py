"""BERT embedding: word + position + segment, then LayerNorm and dropout (SPEC §4.2)."""
import torch
from torch import nn

from uer.constants import MAX_POSITIONS
from uer.embeddings import str2embedding
from uer.errors import UerError
from uer.hparams import DROPOUT, EMB_SIZE, read
from uer.layers.dropout import Dropout
from uer.layers.layer_norm import LAYER_NORM_KEYS, layer_norm_from_args

# Segment rows: 0 = padding, 1 = first sentence, 2 = second sentence.
SEGMENT_ROWS = 3


@str2embedding.register("bert")
class BertEmbedding(nn.Module):
    max_positions = MAX_POSITIONS  # longest sequence it embeds (fine-tuning checks --seq_length)
    config_keys = (EMB_SIZE, DROPOUT, *LAYER_NORM_KEYS)

    def __init__(self, args, vocab_size):
        super().__init__()
        config = read(args, self)
        emb_size = config.emb_size
        self.word_embedding = nn.Embedding(vocab_size, emb_size)
        self.position_embedding = nn.Embedding(MAX_POSITIONS, emb_size)
        self.segment_embedding = nn.Embedding(SEGMENT_ROWS, emb_size)
        self.layer_norm = layer_norm_from_args(args, emb_size)
        self.dropout = Dropout(config.dropout)

    def forward(self, src, seg):
        seq_length = src.size(1)
        if seq_length > MAX_POSITIONS:
            raise UerError(f"sequence length {seq_length} exceeds the {MAX_POSITIONS} positions "
                           "of the bert embedding (lower --seq_length)")
        positions = torch.arange(seq_length, device=src.device)
        emb = (self.word_embedding(src) + self.position_embedding(positions)[None, :, :]
               + self.segment_embedding(seg))
        return self.dropout(self.layer_norm(emb))
