"""Sentencepiece backing shared by the tokenizers and the vocabulary."""
import os

from uer.errors import UerError


def load_spm(path):
    try:
        import sentencepiece
    except ImportError:
        raise UerError("--spm_model_path needs the sentencepiece package (pip install sentencepiece)") from None
    if not os.path.isfile(path):
        raise UerError(f"{path}: sentencepiece model not found (--spm_model_path)")
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(path)
    except (OSError, RuntimeError):
        raise UerError(f"{path}: not a sentencepiece model (--spm_model_path)") from None
    return processor


def encode_pieces(processor, text):
    """Sentencepiece pieces with XLNet's fix for numbers followed by a comma ("2019," -> "2019", ",")."""
    pieces = processor.EncodeAsPieces(text)
    fixed = []
    for piece in pieces:
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            sub = processor.EncodeAsPieces(piece[:-1].replace("\u2581", ""))
            if piece[0] != "\u2581" and sub and sub[0][0] == "\u2581":
                if len(sub[0]) == 1:
                    sub = sub[1:]
                else:
                    sub[0] = sub[0][1:]
            fixed.extend(sub)
            fixed.append(piece[-1])
        else:
            fixed.append(piece)
    return fixed
