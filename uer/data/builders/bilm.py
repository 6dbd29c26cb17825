"""bilm target (ELMo, SPEC §3.7): each line's tokens cut into seq_length chunks c; the loader
derives tgt_fwd = c[1:]+[SEP] and tgt_bwd = [CLS]+c[:-1]. Empty remainders give no instance."""
import numpy as np

from uer.data.builders import str2builder
from uer.data.builders._base import InstanceBuilder, shifted_left, shifted_right


@str2builder.register("bilm")
class BilmBuilder(InstanceBuilder):
    min_seq_length = 1
    fields = {"n_real": "<u2"}

    @classmethod
    def read_fields(cls, out, dataset, indices):
        src, n_real = out["src"], out["b_end"]
        out["tgt_fwd"] = shifted_left(src, n_real, np.full(len(indices), dataset.header["sep_id"]))
        out["tgt_bwd"] = shifted_right(src, n_real, dataset.header["cls_id"])

    def feed(self, text):
        tokens = np.asarray(self.encode(text), dtype=np.int64)
        self.tokens += len(tokens)
        self.documents += 1
        length = self.seq_length
        full = len(tokens) // length
        if full:
            self.writer.add_rows(tokens[:full * length].reshape(full, length),
                                 n_real=np.full(full, length))
        rest = len(tokens) - full * length
        if rest:
            self.writer.add(tokens[full * length:], (rest,))
