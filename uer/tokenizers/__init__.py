"""Tokenizers by name: ``str2tokenizer["bert"|"char"|"space"](args)`` as in UER-py.

``args`` needs ``vocab_path`` and/or ``spm_model_path`` (sentencepiece wins when both are set)."""
from uer.registry import Registry

str2tokenizer = Registry("tokenizer")

from uer.tokenizers import bert, char, space  # noqa: E402,F401  (registration)
from uer.tokenizers.bert import BertTokenizer  # noqa: E402,F401
from uer.tokenizers.char import CharTokenizer  # noqa: E402,F401
from uer.tokenizers.space import SpaceTokenizer  # noqa: E402,F401
