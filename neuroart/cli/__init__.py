"""The `neuroart` command line: a thin click layer over the library.

Each command parses its options, calls one library function, and prints what it wrote.
Library errors (`NeuroartError`) and bad files become one line on stderr and exit code 1.
TensorFlow is never imported at module level here: `neuroart --help` stays instant.

Commands live in topic modules (`core`, `dream`, `generate`, `gallery`) registered on `main`.
"""

from __future__ import annotations

import functools
import re
import sys

import click

from .._util import NeuroartError
from .._version import __version__


class _Group(click.Group):
    """The `neuroart` group: remembers the raw argument list (for recipes) and tells usage
    errors in one line (`Error: Invalid value for '--cmap': ...`), like every other error."""

    def parse_args(self, ctx, args):
        ctx.meta["neuroart.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `neuroart train` alone: show its help
                raise
            if isinstance(e, click.NoSuchOption) and _negative(e):
                raise click.ClickException(_negative(e)) from None
            hint = f" (see: neuroart {e.ctx.command_path.split(' ', 1)[-1]} --help)" if e.ctx and e.ctx.parent else ""
            raise click.ClickException(e.format_message() + hint) from None


def _negative(e: click.NoSuchOption) -> str | None:
    """What `dream -1` means to say (click reads ``-1`` as an option): a digit out of range, or
    a file whose name starts with a dash."""
    if not re.fullmatch(r"-\d[\d.]*", e.option_name or "") or e.ctx is None:
        return None
    args = {p.name for p in e.ctx.command.params if isinstance(p, click.Argument)}
    if args & {"digits", "a", "b"}:
        return f"not a digit: {e.option_name} (digits are 0-9)"
    if args:
        return f"{e.option_name}: a name that starts with '-' reads as an option; write ./{e.option_name}"
    return None


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


def argv() -> list[str]:
    """The running command's arguments (after ``neuroart``), recorded into what it writes."""
    ctx = click.get_current_context(silent=True)
    return list(ctx.find_root().meta.get("neuroart.argv", sys.argv[1:])) if ctx else sys.argv[1:]


#: How the CLI names each output of `neuroart.outputs` in messages.
FLAGS = {"out": "--out", "gif": "--gif", "npz": "--npz", "svg": "--svg"}


def check_outputs(**paths):
    """Check output paths before any work (one clear line naming the flag and the path)."""
    from ..outputs import check_outputs as check
    from .checks import writable

    checked = check(options=FLAGS, **paths)
    writable({FLAGS[kind]: path for kind, path in checked.items()})
    return checked


def save(sheet, **outputs) -> None:
    """Write a library `Sheet` (all or nothing) with this command's recipe; print each file."""
    from ..outputs import save as save_sheet
    from ..recipe import input_hashes

    ctx = click.get_current_context(silent=True)
    record = ctx is not None and ctx.find_root().meta.get("neuroart.inputs_sha256", True)  # replay: as recorded
    inputs = input_hashes(ctx.params) if record else []
    if inputs:  # the input pictures' hashes: replay tells another picture from the one used
        sheet.recipe["inputs_sha256"] = inputs
    if sheet.message:
        click.echo(sheet.message)
    for path in save_sheet(sheet, argv=argv(), options=FLAGS, **outputs):
        echo_wrote(path)


def library_errors(fn):
    """Turn library and file errors into one clean line (click prints `Error: ...`, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except NeuroartError as e:
            raise click.ClickException(_with_flag(str(e))) from None
        except (OSError, ValueError) as e:
            raise click.ClickException(_one_line(e)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None

    return wrapper


def _with_flag(message: str) -> str:
    """A library message that starts with an argument name (`per_digit must be ...`) names the
    running command's flag instead (`--per-digit must be ...`)."""
    ctx = click.get_current_context(silent=True)
    head = message.split(" ", 1)[0]
    if ctx is not None and head.isidentifier():
        for param in ctx.command.params:
            if param.name == head and isinstance(param, click.Option):
                return param.opts[0] + message[len(head):]
    return message


def _one_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("in user code"):  # a TensorFlow trace: its last line says what
        return lines[-1]
    return lines[0] if lines else type(e).__name__


def default_of(fn, name: str):
    """The default of `fn`'s argument `name`: click options read the library's defaults, never copy them."""
    import inspect

    return inspect.signature(fn).parameters[name].default


class IntRange(click.IntRange):
    """click's IntRange, whose message for ``--seed abc`` says that an integer is wanted (click's
    says "not a valid integer range")."""

    name = "integer"


class FloatRange(click.FloatRange):
    """click's FloatRange, whose message for ``--noise abc`` says that a number is wanted."""

    name = "number"


#: click type of every --seed option (NumPy and TensorFlow seeds are unsigned 32-bit).
SEED = IntRange(0, 2**32 - 1)
#: click type of every --scale option (pixels per image pixel).
SCALE = IntRange(1, 64)


def cmap_option(fn):
    """The --cmap option, its choices from `neuroart.imaging.CMAPS`."""
    from ..imaging import CMAPS

    return click.option("--cmap", type=click.Choice(CMAPS), default="gray", show_default=True,
                        help="Colour map of the pictures.")(fn)


def echo_wrote(path, what: str = "wrote") -> None:
    click.echo(f"{what} {path}")


# Register the command modules (each imports TensorFlow only inside its commands).
from . import core, dataset, dream, explain, gallery, generate, novelty, sign, studio  # noqa: E402,F401,I001
