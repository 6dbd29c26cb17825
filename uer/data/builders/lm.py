"""lm target (GPT): for each line d, the sequence [CLS] d [SEP] is cut into seq_length chunks;
src is a chunk and tgt the same positions shifted one token ahead. Every instance has length
seq_length (UER-py's L+1 instances and shift-by-two remainders are fixed, SPEC §3.6)."""
import numpy as np

from uer.data.builders import str2builder
from uer.data.builders._base import InstanceBuilder, shifted_left


@str2builder.register("lm")
class LmBuilder(InstanceBuilder):
    fields = {"n_real": "<u2", "last_tgt": "token"}

    @classmethod
    def read_fields(cls, out, dataset, indices):
        out["tgt"] = shifted_left(out["src"], out["b_end"], dataset.arrays["last_tgt"][indices])

    def feed(self, text):
        ids = self.encode(text)
        self.tokens += len(ids)
        self.documents += 1
        sequence = np.empty(len(ids) + 2, dtype=np.int64)
        sequence[0] = self.cls_id
        sequence[1:-1] = ids
        sequence[-1] = self.sep_id
        length = self.seq_length
        src_length = len(sequence) - 1  # the last token is only ever a target
        full = src_length // length
        if full:
            # The target of a chunk's last position is the first token of the next chunk.
            self.writer.add_rows(sequence[:full * length].reshape(full, length),
                                 n_real=np.full(full, length),
                                 last_tgt=sequence[length:full * length + 1:length])
        rest = src_length - full * length
        if rest:
            self.writer.add(sequence[full * length:src_length], (rest, sequence[src_length]))
