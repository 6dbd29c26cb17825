"""Word segmenters for whole word masking (--whole_word_masking --segmenter NAME).

A segmenter cuts a raw line into words (``cut(text) -> list of str``). ``WordEncoder`` then
gives the line's token ids with a flag per token: set when the token continues the word of the
previous token. The ids are always those of the plain tokenizer (see ``WordEncoder.encode``).
"""
import logging
import os
from difflib import SequenceMatcher

from uer.errors import UerError

# Builders carry the flag inside the id while instances are assembled (the id plus this bit),
# so slicing, truncation and chunking keep ids and flags together; PartWriter splits them.
CONTINUATION = 1 << 30


def check_user_dict(path):
    """A one-line error naming the file when the user dictionary cannot be read."""
    if path is None:
        return
    if not os.path.isfile(path):
        raise UerError(f"{path}: user dictionary not found (--user_dict)")
    if not os.access(path, os.R_OK):
        raise UerError(f"{path}: user dictionary is not readable (--user_dict)")


class JiebaSegmenter:
    """jieba's default dictionary (accurate mode, HMM for unknown words), plus an optional user
    dictionary. A private ``jieba.Tokenizer`` keeps the user words out of jieba's global one."""

    name = "jieba"

    def __init__(self, user_dict=None):
        check_user_dict(user_dict)
        try:
            import jieba
        except ImportError:
            raise UerError("--whole_word_masking with --segmenter jieba needs the jieba package "
                           "(pip install jieba)") from None
        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." lines on stderr
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()  # once, before preprocess forks its workers
        if user_dict is not None:
            try:
                self.tokenizer.load_userdict(user_dict)
            except (ValueError, AttributeError):  # not UTF-8 / a line jieba cannot parse
                raise UerError(f"{user_dict}: not a jieba user dictionary "
                               "(UTF-8 lines 'word [freq] [tag]') (--user_dict)") from None

    def cut(self, text):
        return self.tokenizer.lcut(text)


str2segmenter = {"jieba": JiebaSegmenter}


def build_segmenter(name="jieba", user_dict=None):
    if name not in str2segmenter:
        raise UerError(f"unknown --segmenter {name} (choose from {', '.join(str2segmenter)})")
    return str2segmenter[name](user_dict=user_dict)


class WordEncoder:
    """``encode(text)``: the tokenizer's ids for ``text``, each continuation token plus
    CONTINUATION. A token continues a word when it is not the first token of its segmenter
    word, or when it is a WordPiece ``##`` piece (so English words are grouped too)."""

    def __init__(self, tokenizer, segmenter):
        self.segmenter = segmenter
        self.encode_text = getattr(tokenizer, "encode", None)
        if self.encode_text is None:
            tokenize, convert = tokenizer.tokenize, tokenizer.convert_tokens_to_ids
            self.encode_text = lambda text: convert(tokenize(text))  # noqa: E731
        self.suffix_ids = frozenset(i for token, i in tokenizer.vocab.items()
                                    if token.startswith("##"))
        self.mismatched = 0  # lines whose per-word ids differ from the whole line's

    def flags(self, text):
        """(ids, continues): the line's ids and one bool per id."""
        ids = self.encode_text(text)
        word_ids, continues = [], []
        for word in self.segmenter.cut(text):
            pieces = self.encode_text(word)
            if pieces:
                word_ids += pieces
                continues.append(False)
                continues += [True] * (len(pieces) - 1)
        if word_ids != ids:
            # Tokenizing word by word changed some ids (e.g. jieba cut an accented word in two):
            # keep the line's own ids and take the word flags only where the two agree.
            self.mismatched += 1
            continues = self._aligned(ids, word_ids, continues)
        suffix = self.suffix_ids
        continues = [c or i in suffix for c, i in zip(continues, ids)]
        return ids, continues

    @staticmethod
    def _aligned(ids, word_ids, word_continues):
        continues = [False] * len(ids)
        matcher = SequenceMatcher(None, ids, word_ids, autojunk=False)
        for tag, i1, i2, j1, _ in matcher.get_opcodes():
            if tag == "equal":
                continues[i1:i2] = word_continues[j1:j1 + i2 - i1]
        return continues

    def encode(self, text):
        ids, continues = self.flags(text)
        return [i + CONTINUATION if c else i for i, c in zip(ids, continues)]
