"""Tab-separated files with a header row naming the columns (SPEC §2.2-2.3).

Columns are found by name, in any order; extra columns are ignored. Every problem is reported as a
UerError naming the file (and line)."""
import os

from uer.errors import UerError


class TsvTable:
    """Rows of a TSV file: ``columns`` maps a column name to its index, ``rows`` holds
    ``(line_number, fields)`` pairs (line numbers are 1-based, the header is line 1)."""

    def __init__(self, path, columns, rows):
        self.path = path
        self.columns = columns
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def has(self, name):
        return name in self.columns

    def column(self, name):
        """All values of one column, in file order."""
        index = self.columns[name]
        return [fields[index] for _, fields in self.rows]


def _strip_newline(line):
    # Only the line ending goes: strip() would eat a leading empty field.
    return line.rstrip("\r\n")


def read_tsv(path, required=(), optional=(), allow_empty=False):
    """Read ``path``; ``required`` columns must be in the header, ``optional`` ones may be.

    Blank lines are skipped. A row with a different number of fields than the header is an
    error, as is a file with no data row (unless ``allow_empty``)."""
    if not os.path.isfile(path):
        raise UerError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: a BOM must not hide 'label'
            lines = handle.readlines()
    except UnicodeDecodeError as err:
        raise UerError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    if not lines or not _strip_newline(lines[0]).strip():
        raise UerError(f"{path}: file is empty (a header row naming the columns is needed)")
    header = _strip_newline(lines[0]).split("\t")
    columns = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip(), index)
    for name in required:
        if name not in columns:
            raise UerError(f"{path}: header has no '{name}' column "
                           f"(found: {', '.join(header)})")
    wanted = set(required) | {name for name in optional if name in columns}
    rows = []
    for line_no, line in enumerate(lines[1:], 2):
        line = _strip_newline(line)
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise UerError(f"{path}:{line_no}: expected {len(header)} tab-separated fields "
                           f"as in the header, found {len(fields)}")
        rows.append((line_no, fields))
    if not rows and not allow_empty:
        raise UerError(f"{path}: file has a header but no data rows")
    table = TsvTable(path, {name: columns[name] for name in wanted}, rows)
    return table


def parse_label(value, path, line_no, labels_num=None):
    """An integer class id >= 0 (and < labels_num when given)."""
    try:
        label = int(value)
    except ValueError:
        raise UerError(f"{path}:{line_no}: label '{value}' is not an integer") from None
    if label < 0:
        raise UerError(f"{path}:{line_no}: label {label} is negative")
    if labels_num is not None and label >= labels_num:
        raise UerError(f"{path}:{line_no}: label {label} is beyond --labels_num {labels_num} "
                       f"(labels are 0..{labels_num - 1})")
    return label


def parse_logits(value, path, line_no, labels_num=None):
    """Space-separated floats (the teacher logits of distillation)."""
    try:
        logits = [float(x) for x in value.split()]
    except ValueError:
        raise UerError(f"{path}:{line_no}: logits '{value[:40]}' are not space-separated "
                       f"numbers") from None
    if not logits:
        raise UerError(f"{path}:{line_no}: empty logits field")
    if labels_num is not None and len(logits) != labels_num:
        raise UerError(f"{path}:{line_no}: {len(logits)} logits but the task has "
                       f"{labels_num} labels")
    return logits
