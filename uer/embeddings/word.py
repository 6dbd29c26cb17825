"""Word-only embedding: LayerNorm and dropout over the word vectors; segments are ignored."""
from torch import nn

from uer.embeddings import str2embedding
from uer.hparams import require
from uer.layers.dropout import Dropout
from uer.layers.layer_norm import layer_norm_from_args


@str2embedding.register("word")
class WordEmbedding(nn.Module):
    def __init__(self, args, vocab_size):
        super().__init__()
        emb_size = require(args, "emb_size", "embedding word")
        self.word_embedding = nn.Embedding(vocab_size, emb_size)
        self.layer_norm = layer_norm_from_args(args, emb_size)
        self.dropout = Dropout(require(args, "dropout", "embedding word"))

    def forward(self, src, seg=None):
        return self.dropout(self.layer_norm(self.word_embedding(src)))
