"""``bert`` tokenizer: basic tokenization + WordPiece (vocab file), or sentencepiece pieces."""
from uer.constants import CLS_TOKEN, MASK_TOKEN, PAD_TOKEN, SEP_TOKEN, UNK_TOKEN
from uer.tokenizers import str2tokenizer
from uer.tokenizers.base import Tokenizer
from uer.tokenizers.basic import BasicTokenizer
from uer.tokenizers.spm import encode_pieces
from uer.tokenizers.wordpiece import WordpieceTokenizer

SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN)


def vocab_is_cased(tokens):
    """A vocabulary is cased when more than 1% of its ordinary tokens contain upper-case letters."""
    ordinary = [t for t in tokens if not (t.startswith("[") or t.startswith("<"))]
    upper = sum(1 for t in ordinary if t != t.lower())
    return upper > 0.01 * max(1, len(ordinary))


@str2tokenizer.register("bert")
class BertTokenizer(Tokenizer):
    def __init__(self, args, vocab=None, do_lower_case=None):
        super().__init__(args, vocab)
        if self.sp_model is None:
            if do_lower_case is None:
                do_lower_case = not vocab_is_cased(self.inv_vocab)
            self.do_lower_case = do_lower_case
            never_split = [t for t in SPECIAL_TOKENS if t in self.vocab]
            self.basic = BasicTokenizer(do_lower_case=do_lower_case, never_split=never_split)
            self.wordpiece = WordpieceTokenizer(self.vocab, self.unk_token)
            self._never_split = frozenset(never_split)
            self._ids_cache = {}

    def tokenize(self, text):
        if self.sp_model is not None:
            return encode_pieces(self.sp_model, text)
        words = self.basic.tokenize(text)
        cache_get, split = self.wordpiece.cache_get, self.wordpiece.tokenize_word
        if "[" in text and self._never_split.intersection(words):
            never_split = self._never_split
            return [piece for word in words
                    for piece in ((word,) if word in never_split else split(word))]
        tokens = []
        for word in words:
            pieces = cache_get(word)
            tokens += pieces if pieces is not None else split(word)
        return tokens

    def encode(self, text):
        """Token ids of ``text``: tokenize + convert with a per-word cache of ids."""
        if self.sp_model is not None or ("[" in text and any(t in text for t in self._never_split)):
            return self.convert_tokens_to_ids(self.tokenize(text))
        ids_get, cache = self._ids_cache.get, self._ids_cache
        ids = []
        for word in self.basic.tokenize(text):
            word_ids = ids_get(word)
            if word_ids is None:
                word_ids = tuple(self.convert_tokens_to_ids(self.wordpiece.tokenize_word(word)))
                if len(cache) < self.wordpiece.cache_size:
                    cache[word] = word_ids
            ids += word_ids
        return ids
