"""The `neuroart` command line: a thin click layer over the library.

Each command parses its options, calls one library function, and prints what it wrote.
Library errors (`NeuroartError`) and bad files become one line on stderr and exit code 1.
TensorFlow is never imported at module level here: `neuroart --help` stays instant.

Commands live in topic modules (`core`, `dream`, `generate`, `gallery`) registered on `main`.
"""

from __future__ import annotations

import contextvars
import functools
import shlex
import sys

import click

from .._util import NeuroartError
from .._version import __version__


class _Group(click.Group):
    """A group that remembers the raw argument list, so written images can carry their recipe."""

    def parse_args(self, ctx, args):
        ctx.meta["neuroart.argv"] = list(args)
        return super().parse_args(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="neuroart")
def main():
    """neuroart: generative art from an MNIST classifier.

    Dream digits out of a trained classifier, generate and morph handwriting with
    autoencoders, and render labelled grids and animations. Everything works offline
    on the bundled weights.

    \b
    Example:
        neuroart dream 3 7 --per-digit 8 --out dreams.png
        neuroart classify my_digit.png
    """


# While `neuroart replay` re-runs a recipe, the argv to record (the original one, not the rewritten
# output path), so that the replayed file is byte-identical to the original.
recorded_argv: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("recorded_argv", default=None)


def recipe(**extra) -> dict:
    """The recipe of the running command: its argv and version (plus `extra`), for PNG metadata."""
    ctx = click.get_current_context(silent=True)
    argv = recorded_argv.get()
    if argv is None:
        argv = ctx.find_root().meta.get("neuroart.argv", []) if ctx else sys.argv[1:]
    out = {"command": "neuroart " + shlex.join(argv), "argv": argv, "version": __version__}
    out.update(extra)
    return out


def library_errors(fn):
    """Turn library and file errors into one clean line (click prints `Error: ...`, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except NeuroartError as e:
            raise click.ClickException(str(e)) from None
        except (OSError, ValueError) as e:
            raise click.ClickException(_one_line(e)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None

    return wrapper


def _one_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("in user code"):  # a TensorFlow trace: its last line says what
        return lines[-1]
    return lines[0] if lines else type(e).__name__


#: click type of every --seed option (NumPy and TensorFlow seeds are unsigned 32-bit).
SEED = click.IntRange(0, 2**32 - 1)


def check_output(path, suffix: str, what: str = "--out"):
    """Refuse a wrong suffix, a folder or a missing parent folder before any work is done."""
    from pathlib import Path

    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise NeuroartError(f"{what} must be a {suffix} file, got {p}")
    if p.is_dir():
        raise NeuroartError(f"{p}: is a folder")
    if not p.parent.exists():
        raise NeuroartError(f"folder does not exist: {p.parent}")
    return p


def echo_wrote(path, what: str = "wrote") -> None:
    click.echo(f"{what} {path}")


def run(argv: list[str], *, record: list[str] | None = None) -> None:
    """Run `neuroart ARGV...` in this process (used by `gallery` and `replay`).

    Errors propagate (as click exceptions); `record` is the argv written into image recipes.
    """
    token = recorded_argv.set(list(record) if record is not None else None)
    try:
        main.main(args=list(argv), prog_name="neuroart", standalone_mode=False)
    finally:
        recorded_argv.reset(token)


# Register the command modules (each imports TensorFlow only inside its commands).
from . import core, dream, gallery, generate, studio  # noqa: E402,F401,I001
