"""Small shared pieces: the user-facing error, lazy TensorFlow, atomic writes, seeds, progress."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


class NeuroartError(Exception):
    """A problem with the user's input or files, told in one line (the CLI prints just this)."""


def check_digits(digits) -> list[int]:
    """Digits (ints or digit strings) as ints 0-9; anything else is a NeuroartError in one line."""
    out = []
    for d in digits:
        if isinstance(d, bool):
            raise NeuroartError(f"not a digit: {d!r} (digits are 0-9)")
        try:
            v = int(str(d).strip())
        except ValueError:
            raise NeuroartError(f"not a digit: {d!r} (digits are 0-9)") from None
        if not 0 <= v <= 9:
            raise NeuroartError(f"digit {v} is out of range (digits are 0-9)")
        out.append(v)
    return out


def input_file(path, *, what: str = "image") -> Path:
    """An input file that exists and is a file; a missing one, a link loop, a dangling link or a
    folder is one line naming it."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NeuroartError(f"{path}: a symbolic link loop (the link leads back to itself)") from None
        if os.path.islink(p):
            raise NeuroartError(f"{path}: a broken symbolic link (to {os.readlink(p)}, which does not exist)") from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NeuroartError(f"{path}: no such file") from None
        raise NeuroartError(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise NeuroartError(f"{path}: is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}")
    return p


def tf():
    """Import TensorFlow on first use, with its start-up chatter silenced.

    TensorFlow's C++ core logs a few lines to stderr at import (oneDNN, CUDA) before any log
    level applies; they are captured and dropped unless the import fails.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _quiet_stderr():
        import tensorflow
        import tensorflow.keras  # noqa: F401  (finishes the lazy loading inside the quiet block)

        tensorflow.constant(0.0) + 1.0  # first op: the runtime's own start-up lines
    return tensorflow


@contextlib.contextmanager
def _quiet_stderr():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # captured stderr (pytest, CliRunner)
        fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def keras():
    return tf().keras


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    t = tf()
    t.keras.utils.set_random_seed(int(seed))
    with contextlib.suppress(Exception):  # already enabled, or unavailable
        t.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    An interrupted or failing write never leaves a broken file and never clobbers the old one.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise NeuroartError(f"folder does not exist: {path.parent}")
    fd, tmp = temp_beside(path, suffix or path.suffix + ".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def temp_beside(path: Path, suffix: str) -> tuple[int, Path]:
    """A new hidden temporary file beside `path` (open fd, path), with normal permissions.

    What an earlier, killed run left of the same target is removed first; the name carries this
    writer's pid, so a later run can tell an abandoned file from a live one.
    """
    remove_stale_temps(path, suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.{os.getpid()}-", suffix=suffix)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600
    return fd, Path(tmp)


STALE_SECONDS = 60  # a temporary file untouched this long, whose writer is gone, is abandoned


def remove_stale_temps(path: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Remove the temporary files of `path` that an earlier, killed run of `atomic_path` left.

    Only names of `atomic_path`'s own pattern for this very target (``.<name>.<pid>-<random>
    <suffix>``, or the older ``.<name>.<random><suffix>``) are candidates, and only those last
    modified over `STALE_SECONDS` ago whose writing process is no longer alive: a concurrent
    writer's file is never touched. Returns the removed paths.
    """
    import glob
    import re
    import time

    path = Path(path)
    suffix = suffix or path.suffix + ".tmp"
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[a-z0-9_]{{8}}{re.escape(suffix)}")
    removed = []
    try:
        candidates = list((path.parent or Path(".")).glob(f".{glob.escape(path.name)}.*"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        m = pattern.fullmatch(tmp.name)
        if m is None or (m.group(1) and _alive(int(m.group(1)))):
            continue
        try:
            if not tmp.is_file() or tmp.is_symlink() or now - tmp.stat().st_mtime < STALE_SECONDS:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # another user's process, or cannot tell: keep the file
    return True


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import (not while other threads write)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def progress(iterable=None, *, length: int | None = None, label: str = "", show: bool = True):
    """A click progress bar on stderr (a plain iterator when `show` is false)."""
    import click

    if not show:
        return contextlib.nullcontext(_Silent(iterable))
    return click.progressbar(
        iterable, length=length, label=label, file=sys.stderr, show_eta=True, show_pos=True
    )


class _Silent:
    def __init__(self, iterable):
        self._it = iterable

    def __iter__(self):
        return iter(self._it)

    def update(self, n_steps, current_item=None):
        pass
