"""``char`` tokenizer: every character of the stripped text, inner spaces included (as UER-py)."""
from uer.tokenizers import str2tokenizer
from uer.tokenizers.base import Tokenizer


@str2tokenizer.register("char")
class CharTokenizer(Tokenizer):
    def tokenize(self, text):
        vocab, unk = self.vocab, self.unk_token
        return [c if c in vocab else unk for c in text.strip()]
