"""cls target: lines ``label<TAB>text`` or ``label<TAB>text_a<TAB>text_b`` become
[CLS] a [SEP] (b [SEP]) with segments 1/2 and an integer label. UER-py 2020 left this target
commented out; blank lines are skipped."""
from uer.data.builders import str2builder
from uer.data.builders._base import CorpusLineError, InstanceBuilder


@str2builder.register("cls")
class ClsBuilder(InstanceBuilder):
    min_seq_length = 3
    fields = {"a_end": "<u2", "b_end": "<u2", "label": "<i4"}
    labels_num = 0  # largest label + 1, recorded in the dataset header

    def feed(self, text):
        if not text.strip():
            return
        columns = text.split("\t")
        if len(columns) < 2:
            raise CorpusLineError("expected 'label<TAB>text' or 'label<TAB>text_a<TAB>text_b', "
                                  "found no tab")
        if len(columns) > 3:
            raise CorpusLineError(f"expected at most 3 tab-separated columns, found {len(columns)}")
        try:
            label = int(columns[0])
        except ValueError:
            raise CorpusLineError(f"label '{columns[0]}' is not an integer") from None
        if not 0 <= label < 2 ** 31:
            raise CorpusLineError(f"label {label} must be a non-negative 32-bit integer")
        self.documents += 1
        self.labels_num = max(self.labels_num, label + 1)
        a = self.encode_line(columns[1])
        tokens = self.ids((self.cls_id,))
        if len(columns) == 2:
            a = a[:self.seq_length - 2]
            tokens += a
            tokens.append(self.sep_id)
            self.writer.add(tokens, (len(a) + 2, len(a) + 2, label))
            return
        b = self.encode_line(columns[2])
        # Shorten the longer text from its end until the pair fits (BERT's fine-tuning rule).
        a_len, b_len = len(a), len(b)
        while a_len + b_len > self.seq_length - 3:
            if a_len > b_len:
                a_len -= 1
            else:
                b_len -= 1
        tokens += a[:a_len]
        tokens.append(self.sep_id)
        tokens += b[:b_len]
        tokens.append(self.sep_id)
        self.writer.add(tokens, (a_len + 2, a_len + b_len + 3, label))
