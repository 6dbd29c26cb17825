"""Common surface of the tokenizers, mirroring UER-py's: .vocab (token -> id), .tokenize,
.convert_tokens_to_ids, .convert_ids_to_tokens."""
from uer.vocab import load_vocab


class Tokenizer:
    def __init__(self, args, vocab=None):
        self.vocab_obj = vocab if vocab is not None else load_vocab(args)
        self.sp_model = getattr(self.vocab_obj, "spm", None)
        self.vocab = self.vocab_obj.w2i
        self.inv_vocab = self.vocab_obj.i2w
        self.unk_token = self.vocab_obj.unk_token
        self.unk_id = self.vocab.get(self.unk_token)

    def tokenize(self, text):
        raise NotImplementedError

    def convert_tokens_to_ids(self, tokens):
        # Unknown tokens map to the unknown id (UER-py raised KeyError here).
        get, unk = self.vocab.get, self.unk_id
        return [get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids):
        i2w = self.inv_vocab
        return [i2w[i] for i in ids]

    def encode(self, text):
        """Token ids of ``text`` (tokenize + convert in one call)."""
        return self.convert_tokens_to_ids(self.tokenize(text))
