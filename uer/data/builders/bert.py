"""bert target: masked LM + next sentence prediction (SPEC §3.3, after Google's
create_instances_from_document). The negative pool is the current document buffer."""
from bisect import bisect_left

from uer.data.builders import str2builder
from uer.data.builders._base import DocumentBuilder


@str2builder.register("bert")
class BertBuilder(DocumentBuilder):
    def instances_from_document(self, documents, index):
        tokens, offsets = documents[index]
        sentences = len(offsets) - 1
        rand = self.rng.random
        max_tokens = self.seq_length - 3
        target_length = self.target_length(max_tokens)
        first = 0
        while first < sentences:
            end = self.chunk_end(offsets, first, target_length)
            count = end - first
            a_stop = first + self.split_point(count)
            a = tokens[offsets[first]:offsets[a_stop]]
            if count == 1 or rand() < 0.5:
                # Random next: B comes from another document; the chunk's unused sentences
                # start the next chunk.
                b = self.random_segment(documents, index, target_length - len(a))
                self.emit_pair(a, b, 1, max_tokens)
                first = a_stop
            else:
                self.emit_pair(a, tokens[offsets[a_stop]:offsets[end]], 0, max_tokens)
                first = end

    def random_segment(self, documents, index, target_length):
        """Sentences of a random other document, from a random start, until ``target_length``
        tokens (at least one sentence)."""
        rand = self.rng.random
        other = index
        for _ in range(10):  # may end up on the same document when the buffer is tiny
            other = int(rand() * len(documents))
            if other != index:
                break
        tokens, offsets = documents[other]
        start = int(rand() * (len(offsets) - 1))
        end = bisect_left(offsets, offsets[start] + target_length, start + 1)
        end = min(end, len(offsets) - 1)
        return tokens[offsets[start]:offsets[end]]
