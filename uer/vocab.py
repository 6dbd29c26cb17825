"""Vocabulary: one token per line, id = line number (or the pieces of a sentencepiece model)."""
import hashlib
import os

from uer.atomic import atomic_open
from uer.constants import (CLS_TOKEN, MASK_TOKEN, PAD_ID, PAD_TOKEN, SEP_TOKEN, SPM_UNK_TOKEN,
                           UNK_TOKEN)
from uer.errors import UerError
from uer.sidecar import check_vocab


class Vocab:
    """Token <-> id maps with UER-py's special-token rules checked at load time."""

    def __init__(self, tokens, source="<memory>", unk_token=UNK_TOKEN):
        self.i2w = list(tokens)
        self.w2i = {}
        for index, token in enumerate(self.i2w):
            self.w2i[token] = index  # the last duplicate wins, as in UER-py
        self.source = source
        self.unk_token = unk_token

    # --- loading -----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path, validate=True, unique=True):
        """``unique=False`` accepts repeated tokens (a tool comparing token sets)."""
        if not os.path.isfile(path):
            raise UerError(f"{path}: vocabulary file not found")
        tokens = []
        first_line = {}
        with open(path, "rb") as handle:
            for line_no, raw in enumerate(handle, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise UerError(f"{path}:{line_no}: vocabulary line is not valid UTF-8") from None
                fields = line.strip().split()
                # UER-py keeps the first field; a blank line is the token " ".
                token = fields[0] if fields else " "
                if unique and token in first_line:
                    # UER-py let the later line win, which silently moves e.g. [CLS].
                    raise UerError(f"{path}:{line_no}: token '{token}' is also on line "
                                   f"{first_line[token]}; every vocabulary token must be unique")
                first_line.setdefault(token, line_no)
                tokens.append(token)
        if not tokens:
            raise UerError(f"{path}: vocabulary file is empty")
        vocab = cls(tokens, source=path)
        if validate:
            vocab.validate()
        return vocab

    @classmethod
    def from_spm(cls, path, validate=True):
        from uer.tokenizers.spm import load_spm

        processor = load_spm(path)
        tokens = [processor.IdToPiece(i) for i in range(processor.GetPieceSize())]
        # The model's own unknown piece ("<unk>" by default; "[UNK]" in BERT-style models).
        unk_token = processor.IdToPiece(processor.unk_id()) if processor.unk_id() >= 0 else SPM_UNK_TOKEN
        vocab = cls(tokens, source=path, unk_token=unk_token)
        vocab.spm = processor
        if validate:
            vocab.validate()
        return vocab

    # --- rules -------------------------------------------------------------------------
    def validate(self):
        required = [CLS_TOKEN, SEP_TOKEN, MASK_TOKEN, self.unk_token]
        if not self.i2w or self.i2w[0] != PAD_TOKEN:
            raise UerError(f"{self.source}: '{PAD_TOKEN}' must be the first token (id 0), "
                           f"found '{self.i2w[0] if self.i2w else ''}'")
        for token in required:
            if token not in self.w2i:
                raise UerError(f"{self.source}: vocabulary has no '{token}' token")

    # --- lookups -----------------------------------------------------------------------
    def __len__(self):
        return len(self.i2w)

    def __contains__(self, token):
        return token in self.w2i

    def get(self, token, default=None):
        return self.w2i.get(token, default)

    @property
    def pad_id(self):
        return PAD_ID

    @property
    def cls_id(self):
        return self.w2i[CLS_TOKEN]

    @property
    def sep_id(self):
        return self.w2i[SEP_TOKEN]

    @property
    def mask_id(self):
        return self.w2i[MASK_TOKEN]

    @property
    def unk_id(self):
        return self.w2i[self.unk_token]

    @property
    def checksum(self):
        """Short digest of the token list: a dataset records it so a different vocab is caught."""
        digest = hashlib.sha1("\n".join(self.i2w).encode("utf-8")).hexdigest()
        return digest[:16]

    def save(self, path):
        with atomic_open(path) as handle:
            for token in self.i2w:
                handle.write(token + "\n")


def load_vocab(args, validate=True):
    """The vocabulary named by ``args.spm_model_path`` (preferred, as in UER-py) or ``args.vocab_path``."""
    spm_path = getattr(args, "spm_model_path", None)
    vocab_path = getattr(args, "vocab_path", None)
    if spm_path or vocab_path:
        vocab = (Vocab.from_spm(spm_path, validate=validate) if spm_path
                 else Vocab.from_file(vocab_path, validate=validate))
        check_vocab(args, vocab)  # the vocabulary a loaded model was built with (uer.sidecar)
        return vocab
    raise UerError("--vocab_path or --spm_model_path is required")
