"""mlm target: masked LM only (SPEC §3.5). Each line (document) becomes [CLS] tokens [SEP] and
is cut into seq_length chunks; with --full_sentences the buffered documents are concatenated
first. A remainder is right-padded; no all-padding chunk is emitted."""
import numpy as np

from uer.data.builders import str2builder
from uer.data.builders._base import InstanceBuilder


@str2builder.register("mlm")
class MlmBuilder(InstanceBuilder):
    uses_masking = True
    uses_dup_factor = True
    fields = {"n_real": "<u2"}

    def __init__(self, args, vocab, encode, writer, rng):
        super().__init__(args, vocab, encode, writer, rng)
        self.full_sentences = args.full_sentences
        self.buffer = []
        self.dtype = np.uint16 if self.typecode == "H" else np.int32

    def feed(self, text):
        document = self.ids((self.cls_id,))
        document += self.encode_line(text)
        document.append(self.sep_id)
        self.buffer.append(document)
        self.documents += 1
        if len(self.buffer) >= self.docs_buffer_size:
            self.flush()

    def finish(self):
        self.flush()

    def flush(self):
        if not self.buffer:
            return
        if self.full_sentences:
            stream = np.concatenate([np.frombuffer(d, dtype=self.dtype) for d in self.buffer])
            for _ in range(self.dup_factor):
                self.emit_chunks(stream)
        else:
            for _ in range(self.dup_factor):
                for document in self.buffer:
                    self.emit_chunks(np.frombuffer(document, dtype=self.dtype))
        self.buffer = []  # cleared: the next flush never re-emits these documents

    def emit_chunks(self, tokens):
        length = self.seq_length
        full = len(tokens) // length
        if full:
            self.writer.add_rows(tokens[:full * length].reshape(full, length),
                                 n_real=np.full(full, length))
        rest = len(tokens) - full * length
        if rest:
            self.writer.add(tokens[full * length:], (rest,))
