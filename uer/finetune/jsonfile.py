"""Reading the JSON datasets (CMRC, C3): every problem is one UerError naming the file."""
import json
import os

from uer.errors import UerError


def load_json(path):
    """The parsed JSON of ``path``; a missing, non-UTF-8 or malformed file is a UerError."""
    if not os.path.isfile(path):
        raise UerError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: a BOM is not JSON
            return json.load(handle)
    except UnicodeDecodeError as err:
        raise UerError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UerError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at line {err.lineno} "
                       f"column {err.colno})") from None
