"""albert target: masked LM + sentence order prediction (SPEC §3.4): A and B come from the same
chunk and are swapped with probability 0.5 (label 1 = wrong order)."""
from uer.data.builders import str2builder
from uer.data.builders._base import DocumentBuilder


@str2builder.register("albert")
class AlbertBuilder(DocumentBuilder):
    def instances_from_document(self, documents, index):
        tokens, offsets = documents[index]
        sentences = len(offsets) - 1
        rand = self.rng.random
        max_tokens = self.seq_length - 3
        target_length = self.target_length(max_tokens)
        first = 0
        while first < sentences:
            end = self.chunk_end(offsets, first, target_length)
            a_stop = first + self.split_point(end - first)
            a = tokens[offsets[first]:offsets[a_stop]]
            b = tokens[offsets[a_stop]:offsets[end]]  # empty for a one-sentence chunk (UER-py)
            if rand() < 0.5:
                self.emit_pair(b, a, 1, max_tokens)
            else:
                self.emit_pair(a, b, 0, max_tokens)
            first = end
