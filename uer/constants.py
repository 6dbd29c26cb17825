"""Special tokens and ids fixed by UER-py's formats, and defaults that several modules share
(the option, the library function and the loader take them from here)."""
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
SPM_UNK_TOKEN = "<unk>"

PAD_ID = 0
# Rows of the position table: fixed in UER-py, not configurable.
MAX_POSITIONS = 512

# Span masking (UER-py's --span_geo_prob / --span_max_length defaults).
SPAN_GEO_PROB = 0.2
SPAN_MAX_LENGTH = 10
# Pre-training loader's shuffle window in instances (UER-py's --instances_buffer_size).
INSTANCES_BUFFER_SIZE = 25600
