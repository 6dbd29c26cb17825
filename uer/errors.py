"""User-facing errors: one line naming the file, line or option, and a non-zero exit."""
import functools
import os
import signal
import sys
import threading


class UerError(Exception):
    """Bad input from the user (file, option, vocabulary, checkpoint). Printed as one line."""


class PeerLost(UerError):
    """A distributed peer died or stopped. The broken process group may hold C++ threads that
    abort the process ("terminate called without an active exception", SIGABRT) when Python's
    teardown destroys them, so a script ends right after the error line (``cli_main``)."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt so every ``finally`` cleans up."""


def os_reason(err):
    """``No space left on device`` -> ``no space left on device``."""
    reason = err.strerror or str(err) or type(err).__name__
    return reason[:1].lower() + reason[1:]


def describe_os_error(err):
    """``<path>: <reason>``, naming the output a hidden temporary file stood for."""
    from uer.outputs import public_name

    path = err.filename2 if getattr(err, "filename2", None) else err.filename
    if path is None:
        return os_reason(err)
    return f"{public_name(path)}: {os_reason(err)}"


def _raise_terminated(signum, frame):
    raise Terminated()


def _install_sigterm():
    """SIGTERM is handled like SIGINT (while the script runs in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return None  # someone else (a test runner, an embedding program) owns it
    return signal.signal(signal.SIGTERM, _raise_terminated)


def cli_main(main):
    """Wrap a script's ``main(argv=None)`` so a UerError becomes ``error: ...`` and exit code 1.

    Any OSError is reported as ``error: <path>: <reason>`` (exit 1), SIGINT exits 130 and
    SIGTERM 143 after the temporary files are removed. The wrapped function keeps its
    behaviour when called from Python with an argv list, except that these end in SystemExit
    after the message is printed.
    """

    @functools.wraps(main)
    def wrapper(argv=None):
        previous = _install_sigterm()
        try:
            from uer.environment import check_environment

            check_environment()
            return main(argv)
        except UerError as err:
            print(f"error: {err}", file=sys.stderr)
            if isinstance(err, PeerLost) and argv is None:  # a script, not a caller in Python
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(1)  # files were cleaned up while the error unwound
            raise SystemExit(1) from None
        except OSError as err:
            if isinstance(err, FileNotFoundError) and err.filename:
                message = f"{err.filename}: file not found"
            else:
                message = describe_os_error(err)
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except Terminated:
            print("error: terminated by SIGTERM; temporary files were removed", file=sys.stderr)
            raise SystemExit(143) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper
