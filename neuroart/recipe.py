"""The command line of a library call: how a recipe's ``argv`` is spelled, in one place.

A ``neuroart`` command's options are its library function's keyword arguments, dashed
(``per_digit`` -> ``--per-digit``): so a front end that calls the library with some options
gets the command line that makes the same picture from `command_argv`, with the very same
options, instead of spelling another front end's flags::

    >>> command_argv("dream", 3, start="drawing.png", per_digit=1, steps=120, out="dream.png")
    ['dream', '3', '--start', 'drawing.png', '--per-digit', '1', '--steps', '120', '--out', 'dream.png']

No TensorFlow, no click.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["command_argv", "flag", "input_hashes"]

#: Options whose files are not a picture's inputs: what a command writes, the models (their
#: hashes are recorded by name: ``model_sha256``, ...) and MNIST.
NOT_INPUTS = ("out", "gif", "npz", "svg", "model", "prior", "judge", "flow", "data")


def flag(name: str) -> str:
    """The command-line flag of a library argument: ``per_digit`` -> ``--per-digit``."""
    return "--" + name.replace("_", "-")


def _text(value) -> str:
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def command_argv(command: str, *args, **options) -> list[str]:
    """``[command, *args, --option value, ...]`` as strings, options in the order given.

    None and False leave an option out, True is a bare flag (``--bounce``), a list or tuple
    repeats the option once per item (click's ``multiple=True``).
    """
    argv = [command, *(_text(a) for a in args)]
    for name, value in options.items():
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag(name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                argv += [flag(name), _text(item)]
        else:
            argv += [flag(name), _text(value)]
    return argv


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def input_hashes(options: dict) -> list[str]:
    """``["option=short sha256", ...]``: every existing file among a command's option values (its
    input pictures), in order, so a replay can tell the same picture from another one.

    Keyed by the option, not the path: the same picture from another folder records the same
    (`NOT_INPUTS` are left out)."""
    out = []
    for name, value in options.items():
        if name in NOT_INPUTS or value is None or isinstance(value, bool):
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, os.PathLike)) and os.path.isfile(v):
                out.append(f"{name}={_sha256(v)}")
    return out
