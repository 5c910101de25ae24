"""Showcase commands: `gallery` (runs each piece's command line) and `replay` (runs a recipe's).

Both re-run command lines, which is the CLI's job: the library (`neuroart.gallery`) holds the
pieces as data and writes the index page. `replay` runs only what its allow-list permits.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from .._util import NeuroartError
from . import check_outputs, echo_wrote, library_errors, main
from .replay_checks import REPLAY_MEMORY, REPLAY_WORK, Cost, input_differences, model_differences, replay_cost


def _root_context() -> click.Context:
    """A fresh `neuroart` context with the group's settings (a command's help option is built,
    and cached by click, from the first context it sees)."""
    return click.Context(main, info_name="neuroart", **main.context_settings)


def _invoke(argv: list[str], *, record: list[str] | None = None, overrides: dict | None = None,
            meta: dict | None = None) -> None:
    """Run `neuroart ARGV...` in this process, as a fresh command line.

    `record` is the argv written into the recipe (default: `argv`); `overrides` replace parsed
    option values (replay's own output paths) after parsing; `meta` goes to the root context.
    """
    name, *rest = argv
    cmd = main.get_command(click.get_current_context(silent=True), name)
    if cmd is None or isinstance(cmd, click.Group):
        raise NeuroartError(f"not a rendering command: {name}")
    with _root_context() as root:
        root.meta["neuroart.argv"] = list(record if record is not None else argv)
        root.meta.update(meta or {})
        with cmd.make_context(name, list(rest), parent=root) as ctx:
            ctx.params.update(overrides or {})
            cmd.invoke(ctx)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="gallery", show_default=True,
              help="Folder for the pictures and index.html.")
@click.option("--only", multiple=True, help="Make only this piece (repeatable), e.g. --only dream-digits.")
@click.option("--list", "list_only", is_flag=True, help="List the pieces and their commands, make nothing.")
@library_errors
def gallery(out, only, list_only):
    """Render the showcase pictures and a static index.html that shows them.

    Every picture is made by a real neuroart command, printed on the page under it and stored
    in the PNG, so `neuroart replay` can make it again.

    \b
    Example:
        neuroart gallery                       # everything into ./gallery/
        neuroart gallery --only morph-1-to-7 --out /tmp/g
        neuroart gallery --list
    """
    from .. import gallery as lib

    folder = Path(out)
    pieces = lib.select(list(only) or None)
    if list_only:
        for piece in pieces:
            click.echo(f"{piece.name:22s} neuroart {shlex.join(piece.argv(folder))}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    lib.source_picture(folder / lib.SOURCE_PICTURE)
    for i, piece in enumerate(pieces, 1):  # a line per piece on stderr: each one shows its own progress
        click.echo(f"gallery [{i}/{len(pieces)}] {piece.name}: neuroart {shlex.join(piece.argv(folder))}", err=True)
        _invoke(piece.argv(folder))  # each command prints what it wrote
        if piece.svg:
            echo_wrote(lib.draw_svg(folder, piece))
    click.echo(f"gallery: {len(pieces)} pictures and {lib.write_index(folder)}")


# -------------------------------------------------------------------------------------- replay
# A recipe is untrusted: anyone can write one into a PNG. Replay runs only rendering commands,
# reads only bundled models, MNIST digits and files the user names with --with, never goes
# online, writes only the files named on its own command line, and refuses costly recipes
# unless --yes.

#: Commands a recipe may run.
REPLAYABLE = ("dream", "deepdream", "generate", "reconstruct", "morph", "latent-map", "explain", "restyle")
#: Options that choose models: a bundled name (or auto/none), or a file given with --with.
MODEL_OPTIONS = ("model", "prior", "judge", "flow")
#: MNIST sources a recipe may use (never `download`, never a path).
DATA_SOURCES = ("auto", "offline", "keras-cache")
#: Output options of the commands: replaced by replay's own, so a recipe never names a file to write
#: (replay writes no --svg: a recipe's is dropped).
OUTPUT_OPTIONS = ("out", "gif", "npz", "svg")
#: Options whose values are never file names (checked by their own parsers).
NOT_FILES = ("shard",)
def _looks_like_file(value: str) -> bool:
    """A value that names a file: it exists, or it has a path's shape (a folder or a suffix)."""
    if "/" in value or os.sep in value or os.path.lexists(value):
        return True
    try:
        float(value)
        return False
    except ValueError:
        return bool(Path(value).suffix)


def check_replayable(argv: list[str], allowed_files: list[str], *, yes: bool = False
                     ) -> tuple[click.Command, dict, dict[str, str]]:
    """Parse a recipe's argv with its command and apply the replay rules.

    Returns the command, its params and the files named with --with that stand for inputs the
    recipe recorded under another path (`_match_roles`): ``{recorded value: the user's file}``.
    """
    from ..models import bundled

    if any(a in ("--help", "-h", "--version", "-V") for a in argv):
        raise NeuroartError("this recipe asks for help, not a picture: nothing to replay")
    if not argv or argv[0] not in REPLAYABLE:
        what = argv[0] if argv else "(empty)"
        raise NeuroartError(f"replay runs only rendering commands ({', '.join(REPLAYABLE)}); this recipe is `{what}`")
    cmd = main.get_command(click.get_current_context(silent=True), argv[0])
    if cmd is None:
        raise NeuroartError(f"this recipe's command `{argv[0]}` is not available in this neuroart")
    with _root_context() as root:
        try:
            params = cmd.make_context(argv[0], list(argv[1:]), parent=root).params
        except click.ClickException as e:
            raise NeuroartError(f"this recipe does not parse: {e.format_message()}") from None
    allowed = {Path(f).resolve() for f in allowed_files}
    names = set(bundled()) | {"auto", "none"}
    inputs: list[tuple[str, str]] = []  # (option, recorded path) of every file the recipe reads
    for key, value in params.items():
        if key in OUTPUT_OPTIONS or key in NOT_FILES or value is None or isinstance(value, bool):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in map(str, values):
            if key == "data" and v not in DATA_SOURCES:
                raise NeuroartError(f"replay reads MNIST only from {', '.join(DATA_SOURCES)}; this recipe asks for --data {v}")
            if key in MODEL_OPTIONS and v in names:
                continue
            if key in MODEL_OPTIONS or _looks_like_file(v):
                inputs.append((key, v))
    same = [(key, v) for key, v in inputs if Path(v).resolve() in allowed]
    used = {Path(v).resolve() for _, v in same}
    subs = _match_roles([i for i in inputs if i not in same], [f for f in allowed_files if Path(f).resolve() not in used])
    for key, v in inputs:
        if (key, v) not in same and v not in subs:
            raise NeuroartError(f"this recipe reads {v} ({_role(cmd, key)}); "
                                f"replay reads only files you name: add --with {shlex.quote(v)} (or your copy of it)")
    cost = replay_cost(argv[0], params)
    if cost.too_much() and not yes:
        raise NeuroartError(f"this recipe asks for {cost.describe()} (replay runs at most "
                            f"{Cost(REPLAY_WORK, REPLAY_MEMORY).describe()} without --yes)")
    return cmd, params, subs


def _match_roles(inputs: list[tuple[str, str]], files: list[str]) -> dict[str, str]:
    """The --with files that stand for recipe inputs recorded under another path, by role.

    A recipe recorded ``gallery/source.png``; the user has the picture at ``~/copy/source.png``
    or ``photo.png``. Each input takes the --with file of the same name; else, when the recipe
    reads one model file (.keras) or one picture that no --with names, it takes the one
    remaining --with file of that kind. Returns ``{recorded path: the user's file}``.
    """
    subs: dict[str, str] = {}
    free = list(files)
    for _, v in inputs:
        same_name = [f for f in free if Path(f).name == Path(v).name]
        if len(same_name) == 1:
            subs[v] = same_name[0]
            free.remove(same_name[0])
    for models in (True, False):
        kind = [v for key, v in inputs if v not in subs and (key in MODEL_OPTIONS or v.endswith(".keras")) == models]
        left = [f for f in free if f.endswith(".keras") == models]
        if len(set(kind)) == 1 and len(left) == 1:
            subs[kind[0]] = left[0]
            free.remove(left[0])
    return subs


def _role(cmd: click.Command, key: str) -> str:
    """How the command line spells a parameter: IMAGE for an argument, --start for an option."""
    for p in cmd.params:
        if p.name == key:
            return p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
    return key

@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="The PNG to write (replay writes only the files you name).")
@click.option("--gif", type=click.Path(dir_okay=False), default=None,
              help="Also write the recipe's animation here (dream, morph).")
@click.option("--npz", type=click.Path(dir_okay=False), default=None, help="Also write the raw result here.")
@click.option("--with", "with_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A file the recipe may read (an input picture, a .keras model); repeatable.")
@click.option("--yes", is_flag=True, help="Run a costly recipe (beyond the replay work limit).")
@library_errors
def replay(image, out, gif, npz, with_files, yes):
    """Run the recipe stored in a neuroart PNG again and write the same image.

    On the same machine and neuroart version the result is byte-identical. A recipe is
    untrusted input: replay runs only rendering commands (dream, deepdream, generate,
    reconstruct, morph, latent-map, explain, restyle), reads only bundled models, MNIST and
    the files you name with --with, never downloads, writes only --out (and --gif/--npz if
    you ask), and asks for --yes before a costly run. It prints the command it runs.

    \b
    Example:
        neuroart replay gallery/dream-digits.png --out again.png
        cmp gallery/dream-digits.png again.png && echo identical
        neuroart replay gallery/deepdream-landscape.png --out d.png --with gallery/source-landscape.png
    """
    from ..data import no_download
    from ..outputs import read_recipe

    check_outputs(out=out, gif=gif, npz=npz)
    recipe = read_recipe(image)
    if not recipe or "argv" not in recipe:
        raise NeuroartError(f"{image}: has no neuroart recipe to replay")
    argv = recipe["argv"]
    cmd, params, subs = check_replayable(argv, list(with_files), yes=yes)
    wanted = {"out": out, "gif": gif, "npz": npz}
    for key, path in wanted.items():
        if path is not None and key not in params:
            raise NeuroartError(f"--{key}: this recipe's command `{argv[0]}` does not write a {key} file")
    overrides = {k: v for k, v in wanted.items() if k in params}
    if "svg" in params:
        overrides["svg"] = None
    for key, value in params.items():  # the user's copies of the recipe's input files
        many = isinstance(value, (list, tuple))
        for v in [str(v) for v in (value if many else [value]) if v is not None and str(v) in subs]:
            click.echo(f"replay: reading {subs[v]} as the recipe's {_role(cmd, key)} (recorded as {v})", err=True)
            overrides[key] = type(value)(subs.get(str(x), x) for x in value) if many else subs[v]
    _say_differences(recipe, params, overrides)
    shown = [subs.get(a, a) for a in _strip_outputs(argv)] + [x for k, v in overrides.items()
                                                              if k in wanted and v for x in (f"--{k}", v)]
    click.echo("replaying: neuroart " + shlex.join(shown), err=True)
    with no_download():  # a recipe never takes replay online, whatever `auto` would do
        # a recipe older than input hashes is written again without them: the same bytes
        _invoke(argv, overrides=overrides, meta={"neuroart.inputs_sha256": "inputs_sha256" in recipe})
    if not Path(out).is_file():
        raise NeuroartError(f"the recipe ran but wrote no {out}")


def _say_differences(recipe: dict, params: dict, overrides: dict) -> None:
    """Warn (stderr) when the models or input pictures replay uses are not what the recipe used."""
    from ..recipe import input_hashes

    used = {**params, **overrides}
    files = {str(params[k]): str(used[k]) for k in MODEL_OPTIONS
             if isinstance(used.get(k), str) and used[k].endswith(".keras")}
    for line in model_differences(recipe, files) + input_differences(recipe, input_hashes(used)):
        click.echo(line, err=True)


def _strip_outputs(argv: list[str]) -> list[str]:
    """`argv` without its output options (for showing the command replay actually runs)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--out", "-o", "--gif", "--npz", "--svg"):
            skip = "=" not in arg
            continue
        out.append(arg)
    return out
