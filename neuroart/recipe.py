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

import os

__all__ = ["command_argv", "flag"]


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
