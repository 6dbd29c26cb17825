"""Greedy longest-match-first WordPiece with ``##`` continuation pieces, cached per word."""

MAX_CHARS_PER_WORD = 100


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token, max_chars_per_word=MAX_CHARS_PER_WORD, cache_size=200000):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_chars_per_word = max_chars_per_word
        self.cache_size = cache_size
        self._cache = {}
        self.cache_get = self._cache.get  # hot path: one dict lookup per word
        # The longest vocabulary entry bounds the candidate lengths, so long words cost less.
        self._max_piece = max((len(t) for t in vocab), default=1)

    def tokenize_word(self, word):
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = self._split(word)
            if len(self._cache) < self.cache_size:
                self._cache[word] = pieces
        return pieces

    def _split(self, word):
        if word in self.vocab:
            return (word,)
        if len(word) > self.max_chars_per_word:
            return (self.unk_token,)
        pieces = []
        start, length, vocab = 0, len(word), self.vocab
        while start < length:
            end = min(length, start + self._max_piece)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return (self.unk_token,)  # one unmatched position makes the whole word unknown
            pieces.append(piece)
            start = end
        return tuple(pieces)
