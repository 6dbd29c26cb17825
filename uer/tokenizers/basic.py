"""BERT basic tokenization (cleaning, CJK splitting, lower-casing, accent stripping, punctuation
splitting) done with a few whole-string regex passes instead of a Python loop per character.

The result equals Google's / HuggingFace's BasicTokenizer token for token: every per-character
rule of theirs is a character class here, applied to the whole text in the same order."""
import re
import unicodedata

from uer.tokenizers.char_classes import CJK_RANGES, load_tables, to_regex_class

_TABLES = load_tables()
_CJK = to_regex_class(CJK_RANGES)
_PUNCT = to_regex_class(_TABLES["punctuation"])
_DROPPED_RE = re.compile(f"[{to_regex_class(_TABLES['dropped'])}]+")
# str.translate with a table is ~4x faster than a regex over the ~340 ranges of Mn characters.
_MARKS_TABLE = dict.fromkeys(cp for low, high in _TABLES["nonspacing_marks"] for cp in range(low, high + 1))
# A token is one CJK character, one punctuation character, or a run of anything else but space.
_TOKEN_RE = re.compile(f"[{_CJK}]|[{_PUNCT}]|[^\\s{_CJK}{_PUNCT}]+")
# ASCII text needs neither NFC/NFD nor the CJK class; this class is its fast path.
_ASCII_TOKEN_RE = re.compile(r"[!-/:-@\[-`{-~]|[^\s!-/:-@\[-`{-~]+")


class BasicTokenizer:
    def __init__(self, do_lower_case=True, never_split=()):
        self.do_lower_case = do_lower_case
        self.never_split = tuple(never_split)
        self._never_split_re = (re.compile("(" + "|".join(map(re.escape, self.never_split)) + ")")
                                if self.never_split else None)

    def tokenize(self, text):
        if self._never_split_re is not None and "[" in text:
            parts = self._never_split_re.split(text)
            if len(parts) > 1:
                tokens = []
                for index, part in enumerate(parts):
                    # Odd indexes are the special tokens themselves: kept whole.
                    tokens.extend([part] if index % 2 else self._tokenize_plain(part))
                return tokens
        return self._tokenize_plain(text)

    def _tokenize_plain(self, text):
        # str.isprintable() is False for every C* (and Z*) character, so printable text without
        # U+FFFD has nothing to drop and skips the (slow, many-range) regex.
        if not text.isprintable() or "\ufffd" in text:
            text = _DROPPED_RE.sub("", text)
        if text.isascii():
            if self.do_lower_case:
                text = text.lower()
            return _ASCII_TOKEN_RE.findall(text)
        text = unicodedata.normalize("NFC", text)
        if self.do_lower_case:
            text = unicodedata.normalize("NFD", text.lower())
            text = text.translate(_MARKS_TABLE)
        return _TOKEN_RE.findall(text)
