"""Word-only embedding: LayerNorm and dropout over the word vectors; segments are ignored."""
from torch import nn

from uer.embeddings import str2embedding
from uer.hparams import DROPOUT, EMB_SIZE, read
from uer.layers.dropout import Dropout
from uer.layers.layer_norm import LAYER_NORM_KEYS, layer_norm_from_args


@str2embedding.register("word")
class WordEmbedding(nn.Module):
    config_keys = (EMB_SIZE, DROPOUT, *LAYER_NORM_KEYS)

    def __init__(self, args, vocab_size):
        super().__init__()
        config = read(args, self)
        emb_size = config.emb_size
        self.word_embedding = nn.Embedding(vocab_size, emb_size)
        self.layer_norm = layer_norm_from_args(args, emb_size)
        self.dropout = Dropout(config.dropout)

    def forward(self, src, seg=None):
        return self.dropout(self.layer_norm(self.word_embedding(src)))
