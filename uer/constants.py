"""Special tokens and ids fixed by UER-py's formats."""
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
SPM_UNK_TOKEN = "<unk>"

PAD_ID = 0
# Rows of the position table: fixed in UER-py, not configurable.
MAX_POSITIONS = 512
