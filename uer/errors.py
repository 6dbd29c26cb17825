"""User-facing errors: one line naming the file, line or option, and a non-zero exit."""
import functools
import sys


class UerError(Exception):
    """Bad input from the user (file, option, vocabulary, checkpoint). Printed as one line."""


def cli_main(main):
    """Wrap a script's ``main(argv=None)`` so a UerError becomes ``error: ...`` and exit code 1.

    The wrapped function keeps its behaviour when called from Python with an argv list,
    except that a UerError ends in SystemExit(1) after the message is printed.
    """

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UerError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except FileNotFoundError as err:
            print(f"error: {err.filename}: file not found", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper
