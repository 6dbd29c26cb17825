"""Writing a file so that a crash or an error never leaves a half-written one at its path.

The content goes to a hidden temporary file in the same folder (so the final rename stays on
one file system and is atomic), which replaces the destination only once it is complete; on any
error the temporary file is removed and the destination is left as it was."""
import contextlib
import os


def temporary_path(path):
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; on success it is renamed to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        from uer.outputs import write_error

        failure = write_error(err, path)  # name the path; a full disk is ENOSPC, not torch's text
        if failure is None or failure is err:
            raise
        raise failure from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """``open`` for writing whose result appears at ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle


def write_text(path, text):
    with atomic_open(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary sibling folder to fill; on success it takes the place of ``path``.

    An existing folder at ``path`` is moved aside, replaced by the new one, then deleted, so
    ``path`` holds either the old folder or the complete new one; on error the temporary folder
    is removed and ``path`` is untouched."""
    import shutil

    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{path} exists and is not a directory")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = temporary_path(path)
    old = f"{tmp}-old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        if os.path.isdir(path):
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
