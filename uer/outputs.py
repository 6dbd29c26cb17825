"""Output paths checked before any work starts, and the debris of dead runs cleared.

Every script calls ``check_outputs(args, outputs)`` right after parsing: each output must be
writable (its folder, or the nearest existing folder above it, accepts a new file), must not be
a directory and must not be one of the inputs (every other ``*_path`` option). Inputs must be
readable. Temporary files beside an output carry the writer's PID in their name
(``.<name>[...].tmp-<pid>``, ``.<name>.parts-<pid>-...``); those whose process is gone are
removed here, so an interrupted run leaves nothing behind after the next run.
"""
import os
import re
import shutil

from uer.errors import UerError, os_reason


def pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _debris_pattern(name):
    # ".m.bin.tmp-12", ".m.bin-100.tmp-12", ".m.bin.state.tmp-12", ".d.pt.parts-12-abc"
    # (and "m.txt.tmp-12", the unhidden form some writers use)
    return re.compile(rf"^\.?{re.escape(name)}(?:[.-].*)?\.(?:tmp|parts)-(\d+)(?:-.*)?$")


def stale_debris(path):
    """Temporary files/folders beside ``path`` left by processes that no longer exist."""
    folder, name = os.path.split(os.path.abspath(path))
    pattern = _debris_pattern(name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    found = []
    for entry in entries:
        match = pattern.match(entry)
        if match and not pid_alive(int(match.group(1))):
            found.append(os.path.join(folder, entry))
    return found


def remove_stale_debris(path):
    removed = []
    for item in stale_debris(path):
        try:
            if os.path.isdir(item) and not os.path.islink(item):
                shutil.rmtree(item)
            else:
                os.remove(item)
            removed.append(item)
        except OSError:
            pass  # not ours to fight over; it will be tried again next time
    return removed


def public_name(path):
    """The output a temporary file stands for (``.m.bin.tmp-12`` -> ``m.bin``), else ``path``."""
    if not path:
        return path
    folder, name = os.path.split(str(path))
    match = re.match(r"^\.?(.+?)\.(?:tmp|parts)-\d+(?:-.*)?$", name)
    return os.path.join(folder, match.group(1)) if match else str(path)


def _nearest_existing(folder):
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_readable(path, option):
    if not path or not os.path.exists(path):
        return  # each script reports a missing input in its own words
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except OSError as err:
        raise UerError(f"{path}: cannot be read: {os_reason(err)} (--{option})") from None


def check_writable(path, option, kind="file"):
    """``path`` can be written as a file (``kind="dir"``: a folder) by this process."""
    full = os.path.abspath(path)
    if kind == "file" and os.path.isdir(full):
        raise UerError(f"{path}: is a directory (--{option} names the output file)")
    if kind == "dir" and os.path.exists(full) and not os.path.isdir(full):
        raise UerError(f"{path}: exists and is not a directory (--{option})")
    folder = full if kind == "dir" and os.path.isdir(full) else os.path.dirname(full)
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise UerError(f"{path}: cannot be created: {existing} is not a directory (--{option})")
    probe = os.path.join(existing, f".{os.path.basename(full)}.tmp-{os.getpid()}-probe")
    try:
        handle = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(handle)
        os.remove(probe)
    except OSError as err:
        raise UerError(f"{path}: cannot be written: {os_reason(err)} in {existing} "
                       f"(--{option})") from None
    if os.path.exists(full) and kind == "file" and not os.access(full, os.W_OK):
        raise UerError(f"{path}: cannot be written: permission denied (--{option})")


NOT_INPUTS = ("log_path",)  # written by the logging option, never read


def input_options(args, outputs):
    """Every ``*_path``/``*_list`` option of ``args`` that is not an output."""
    found = []
    for name, value in sorted(vars(args).items()):
        if name in outputs or name in NOT_INPUTS or not name.endswith(("_path", "_list")):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        found += [(name, item) for item in values if isinstance(item, str) and item]
    return found


def check_outputs(args, outputs, kinds=None, inputs=None):
    """Preflight for the output options named in ``outputs`` (those set on ``args``)."""
    kinds = kinds or {}
    outputs = [name for name in outputs if getattr(args, name, None)]
    inputs = input_options(args, outputs) if inputs is None else inputs
    for option, path in inputs:
        check_readable(path, option)
    for name in outputs:
        path = getattr(args, name)
        for option, source in inputs:
            if os.path.exists(source) and _same_file(path, source) or \
                    os.path.abspath(path) == os.path.abspath(source):
                raise UerError(f"{path}: --{name} is the same file as --{option}; refusing to "
                               "overwrite an input")
        check_writable(path, name, kinds.get(name, "file"))
        remove_stale_debris(path)


def disk_full(path, slack=1 << 20):
    """The file system holding ``path`` has (almost) no room left."""
    try:
        stats = os.statvfs(_nearest_existing(os.path.dirname(os.path.abspath(path))))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < slack


def write_error(err, path):
    """The OSError to report for a failed write of ``path`` (torch.save says RuntimeError and
    a failed ``write()`` names no file), or None when ``err`` is not a file-system failure."""
    import errno

    if isinstance(err, OSError):
        if err.filename is None:
            return OSError(err.errno, err.strerror or str(err), path)
        return err
    if isinstance(err, RuntimeError) and disk_full(path):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    return None


def save_or_rescue(save, path, fallback_note=None):
    """``save(path)``; when that fails, the work is not lost silently: it is written to the
    temporary folder instead and the UerError says where (or ``fallback_note`` says what is
    left, e.g. the last checkpoint)."""
    import tempfile

    try:
        save(path)
        return path
    except (OSError, RuntimeError) as err:
        failure = write_error(err, path)
        if failure is None:
            raise
        reason = os_reason(failure)
    rescue = os.path.join(tempfile.gettempdir(),
                          f"{os.path.basename(path)}.rescued-{os.getpid()}")
    try:
        save(rescue)
    except (OSError, RuntimeError):
        rescue = None
    if rescue:
        where = f"it was saved to {rescue} instead"
    else:
        where = fallback_note or "it could not be saved anywhere else either"
    raise UerError(f"{path}: could not be written: {reason}; {where}")
