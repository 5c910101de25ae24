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


def cache_dir() -> Path:
    """Where neuroart keeps what it computed once and can compute again (``$XDG_CACHE_HOME/neuroart``,
    ``~/.cache/neuroart``): the copy check's threshold, the flow's traced graphs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "neuroart"


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
    """A progress bar on stderr: click's bar on a terminal; in a log or a pipe, lines that say how
    far it got and how long it took (`_Lines`); a plain iterator when `show` is false. A `working`
    spinner still turning gives way to the bar."""
    import click

    if not show:
        return contextlib.nullcontext(_Silent(iterable))
    _Spinner.give_way()
    if not _isatty(sys.stderr):
        return _Lines(iterable, length=length, label=label, file=sys.stderr)
    return click.progressbar(
        iterable, length=length, label=label, file=sys.stderr, show_eta=True, show_pos=True
    )


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Silent:
    def __init__(self, iterable):
        self._it = iterable

    def __iter__(self):
        return iter(self._it)

    def update(self, n_steps, current_item=None):
        pass


def _duration(seconds: float) -> str:
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 100 else f"{seconds // 60} min {seconds % 60:02d} s"


class _Lines:
    """Progress as lines, for a log: a line per item of a job of at most `EVERY_ITEM` items, else a
    line per tenth of it, each with the time so far and the time left (a job of unknown length: a
    line every `EVERY_SECONDS`); a last line when it ends short of its length (or has none)."""

    EVERY_ITEM = 20
    EVERY_SECONDS = 10.0

    def __init__(self, iterable=None, *, length: int | None = None, label: str = "", file=None):
        import operator
        import time

        if length is None and iterable is not None:
            length = operator.length_hint(iterable, -1)
            length = None if length < 0 else length
        if iterable is None and length is None:
            raise TypeError("iterable or length is required")
        self._it = range(length) if iterable is None else iterable
        self.length, self.label, self.file = length, label or "working", file or sys.stderr
        self.pos, self._tenth, self._clock = 0, 0, time.monotonic
        self._start = self._said = self._clock()
        self._last = None  # the position of the last line written

    def __enter__(self):
        self._write(f"{self.label}: {self.length} to do" if self.length else f"{self.label}: started")
        return self

    def __exit__(self, kind, value, tb):
        if kind is None and (not self.length or self.pos < self.length):  # ended short: say so
            self._write(f"{self.label}: {self.pos}{f'/{self.length}' if self.length else ''} done "
                        f"in {_duration(self._clock() - self._start)}")
        return False

    def __iter__(self):
        for item in self._it:
            yield item
            self.update(1, item)

    def update(self, n_steps, current_item=None):
        self.pos += int(n_steps)
        now = self._clock()
        if self.length:
            tenth = min(10, self.pos * 10 // self.length)
            due = self.length <= self.EVERY_ITEM or tenth > self._tenth or self.pos >= self.length
            if not due or self._last == self.pos:
                return
            self._tenth = tenth
            left = (now - self._start) / self.pos * (self.length - self.pos) if self.pos < self.length else 0
            what = f" {current_item}" if isinstance(current_item, (str, int)) and len(str(current_item)) <= 40 else ""
            rest = f", ~{_duration(left)} left" if left >= 0.05 else ""
            self._write(f"{self.label}: {self.pos}/{self.length} ({self.pos * 100 // self.length}%){what}, "
                        f"{_duration(now - self._start)}{rest}")
        elif now - self._said >= self.EVERY_SECONDS:
            self._write(f"{self.label}: {self.pos} so far, {_duration(now - self._start)}")

    def _write(self, line: str) -> None:
        self._last, self._said = self.pos, self._clock()
        self.file.write(line + "\n")
        self.file.flush()


@contextlib.contextmanager
def working(label: str, *, delay: float = 1.0, file=None):
    """A spinner on a terminal while something slow runs without a bar of its own (TensorFlow and
    the models loading, a batch computing): it shows after `delay` seconds with the seconds so far,
    and is wiped when the block ends or a `progress` bar starts. On anything but a terminal it
    writes nothing (a log gets `progress`'s lines, not an animation)."""
    file = sys.stderr if file is None else file
    if not _isatty(file):
        yield
        return
    spinner = _Spinner(label, delay, file)
    try:
        yield
    finally:
        spinner.stop()


class _Spinner:
    """The thread behind `working`. It writes to its own copy of the terminal's descriptor, so it
    keeps turning while TensorFlow's import sends stderr elsewhere (`_quiet_stderr`)."""

    FRAMES = "|/-\\"
    active = None  # the spinner turning now, if any

    def __init__(self, label: str, delay: float, file):
        import threading

        self.label, self.delay, self.file = label, delay, file
        try:
            file.flush()
            self._fd = os.dup(file.fileno())
        except (AttributeError, ValueError, OSError):
            self._fd = None  # a terminal-like object without a descriptor: write to it directly
        self._done, self._lock, self._shown = threading.Event(), threading.Lock(), False
        self._thread = threading.Thread(target=self._run, name="neuroart-spinner", daemon=True)
        _Spinner.active = self
        self._thread.start()

    def _run(self):
        import itertools
        import time

        start = time.monotonic()
        if self._done.wait(self.delay):
            return
        for i in itertools.count():
            with self._lock:
                if self._done.is_set():
                    return
                self._emit(f"\r{self.label} {self.FRAMES[i % 4]} {_duration(time.monotonic() - start)}\x1b[K")
                self._shown = True
            if self._done.wait(0.125):
                return

    def _emit(self, text: str) -> None:
        if self._fd is not None:
            os.write(self._fd, text.encode(errors="replace"))
        else:
            self.file.write(text)
            self.file.flush()

    def stop(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
            if self._shown:
                self._emit("\r\x1b[K")  # wipe the line: what comes next starts clean
            if self._fd is not None:
                os.close(self._fd)
        if _Spinner.active is self:
            _Spinner.active = None

    @classmethod
    def give_way(cls) -> None:
        if cls.active is not None:
            cls.active.stop()
