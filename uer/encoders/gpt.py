"""GPT encoder: the bert encoder's layers and key names with a causal mask only (no padding
mask, as in UER-py: right padding never reaches a real token through a causal mask)."""
from uer.encoders import str2encoder
from uer.encoders.bert import BertEncoder


@str2encoder.register("gpt")
class GptEncoder(BertEncoder):
    name = "gpt"
    causal = True
