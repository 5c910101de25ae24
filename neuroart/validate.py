"""One validation layer for the numbers a caller passes in, whatever the front end.

The library functions (`dream`, `deepdream`, `generate`, the trainers, ...) check their numeric
arguments here, so the CLI, the studio and a script get the same rule and the same one-line
`NeuroartError`, named by the library's argument name::

    >>> finite("lr", float("inf"), low=0, low_open=True)
    Traceback (most recent call last):
    ...
    neuroart._util.NeuroartError: lr must be a finite number > 0, got inf

Non-finite floats (inf, -inf, nan) are always refused: ``not (lr > 0)`` lets ``inf`` through,
and a single inf turns a whole render into noise. Booleans are refused as numbers (a browser's
``true`` is not 1). Numeric strings are accepted (form fields arrive as text). This module
imports neither TensorFlow nor click.
"""

from __future__ import annotations

import math
import numbers

from ._util import NeuroartError

__all__ = ["finite", "integer", "positive_int", "choice"]


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _shown(value) -> str:
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, float) or (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)):
        return str(float(value))  # inf, nan, 0.5
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _range(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {_num(low)}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {_num(high)}")
    return (" " + " and ".join(parts)) if parts else ""


def finite(name: str, value, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float within ``[low, high]`` (an end excluded when ``*_open``).

    Anything else -- inf, nan, a bool, a non-number, a number out of range -- is a
    `NeuroartError` like ``lr must be a finite number > 0, got inf``.
    """
    what = f"{name} must be a finite number{_range(low, high, low_open, high_open)}, got {_shown(value)}"
    if isinstance(value, bool) or value is None:
        raise NeuroartError(what)
    try:
        v = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise NeuroartError(what) from None
    if not math.isfinite(v):
        raise NeuroartError(what)
    if low is not None and (v <= low if low_open else v < low):
        raise NeuroartError(what)
    if high is not None and (v >= high if high_open else v > high):
        raise NeuroartError(what)
    return v


def integer(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int within ``[low, high]``; whole floats (``3.0``) and digit strings pass.

    Anything else -- 2.5, inf, nan, a bool, a non-number, out of range -- is a `NeuroartError`
    like ``steps must be an integer >= 1 and <= 100000, got 0``.
    """
    what = f"{name} must be an integer{_range(low, high, False, False)}, got {_shown(value)}"
    if isinstance(value, bool) or value is None:
        raise NeuroartError(what)
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        try:
            f = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError, OverflowError):
            raise NeuroartError(what) from None
        if not math.isfinite(f) or f != int(f):
            raise NeuroartError(what)
        v = int(f)
    if (low is not None and v < low) or (high is not None and v > high):
        raise NeuroartError(what)
    return v


def positive_int(name: str, value, *, high: int | None = None) -> int:
    """`value` as an int >= 1 (and <= `high`): ``steps must be a positive integer, got 0``."""
    try:
        return integer(name, value, low=1, high=high)
    except NeuroartError:
        most = f" (at most {high})" if high is not None else ""
        raise NeuroartError(f"{name} must be a positive integer{most}, got {_shown(value)}") from None


def choice(name: str, value, options) -> str:
    """`value` if it is one of `options` (strings), else ``name must be one of a, b; got 'x'``."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise NeuroartError(f"{name} must be one of {', '.join(options)}; got {_shown(value)}")
    return value
