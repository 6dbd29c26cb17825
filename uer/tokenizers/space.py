"""``space`` tokenizer: split on single spaces (runs of spaces give empty, unknown tokens, as UER-py)."""
from uer.tokenizers import str2tokenizer
from uer.tokenizers.base import Tokenizer


@str2tokenizer.register("space")
class SpaceTokenizer(Tokenizer):
    def tokenize(self, text):
        vocab, unk = self.vocab, self.unk_token
        return [t if t in vocab else unk for t in text.strip().split(" ")]
