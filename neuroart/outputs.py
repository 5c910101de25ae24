"""Writing what neuroart makes: a `Sheet` (images, labels, frames, recipe) and its files.

Every front end writes through here — each CLI command, `neuroart gallery`, and the studio's
Save — so there is one output check and one writer:

- `check_outputs` refuses a wrong suffix, a folder, a missing or read-only folder, before any
  work starts; its message names the user's option and path (``--npz ro/x.npz``);
- `save` renders the sheet (a labelled grid PNG with its recipe, a GIF of its frames, an npz of
  its arrays) and writes the set all or nothing: every file goes to a temporary file beside
  its target first, and only when all of them are complete are they renamed into place. A
  failure removes this run's temporary files and leaves the user's old files untouched.

Single files go through here too: `save_grid`, `save_image`, `save_gif`, `save_npz`,
`write_png` (each atomic), and `read_recipe` reads a PNG's recipe back, `read_label` a PNG's or
GIF's honest label (the IPTC Digital Source Type that `neuroart.imaging` writes into each).

No TensorFlow here; pixels become bytes in `neuroart.imaging` (pure encoders), files happen here.
"""

from __future__ import annotations

import json
import os
import shlex
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._util import NeuroartError
from ._version import __version__
from .display import Displayed

#: The output kinds a sheet can be written as: option name -> file suffix.
SUFFIXES = {"out": ".png", "gif": ".gif", "npz": ".npz", "svg": ".svg"}


@dataclass
class Sheet(Displayed):
    """A result ready to be written: what a library pipeline hands to `save`.

    `images` are digits (N, 28, 28) in grid order, or one picture (H, W) / (H, W, 3); all
    float32 in [0, 1]. `frames` (each shaped like `images`) make the GIF; `arrays` are the raw
    result for the npz (``images`` and ``labels`` by default); `recipe` is what the library
    knows about how it was made (models and their hashes, seed, ...), completed by `save` with
    the command line and version. `composite` says a real picture went in (a person's file or
    drawing, or real MNIST digits): its files are labelled ``compositeWithTrainedAlgorithmicMedia``
    rather than ``trainedAlgorithmicMedia``. In a notebook a sheet shows itself (`Displayed`).
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    ncols: int | None = None
    row_labels: list[str] | None = None
    captions: list[str] | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    pad: int = 2
    picture: bool = False  # `images` is one picture, written pixel for pixel (no grid)
    gif_duration_ms: int = 80
    gif_hold: int = 0  # repeat the last frame this many times (a pause before the loop)
    gif_bounce: bool = False  # play forward then back
    gif_min_scale: int = 1  # GIF cells at least this large (small strips are hard to see)
    message: str | None = None  # one line a front end may print (e.g. "vae: 1 -> 7, 12 frames")
    composite: bool = False  # a real picture went in (the honest label, `neuroart.imaging.source_type`)

    def sheet(self) -> Sheet:
        return self

    def to_png(self, *, scale: int = 3, cmap: str = "gray") -> bytes:
        """The still as PNG bytes, labelled (no recipe: that needs the command line; see `save`)."""
        from .imaging import encode_png

        return encode_png(render_still(self, scale=scale, cmap=cmap), composite=self.composite)

    def to_gif(self, *, scale: int = 3, cmap: str = "gray") -> bytes:
        """The frames as animated GIF bytes, in `animation` order, labelled."""
        from .imaging import encode_gif

        if not self.frames:
            raise NeuroartError("this result has no frames to animate")
        frames = render_frames(self, scale=scale, cmap=cmap)
        return encode_gif(animation(self, frames), duration_ms=self.gif_duration_ms, composite=self.composite)

    def npz_arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to ``--npz``: images, labels (when known) and any extra arrays."""
        out = {"images": np.asarray(self.images, np.float32)}
        if self.labels is not None:
            out["labels"] = np.asarray(self.labels, np.int64)
        out.update(self.arrays)
        return out


class Digits(Displayed, namedtuple("Digits", "images labels")):
    """Digits and their labels as `neuroart.generate.generate` returns them: unpacks as ``images,
    labels``, and shows as a grid (one row per digit, at most 20 columns) in a notebook."""

    __slots__ = ()

    def sheet(self) -> Sheet:
        labels = np.asarray(self.labels)
        first_row = int(np.argmax(labels != labels[0])) if len(labels) else 0  # digits of the first label
        cols = min(first_row or len(labels) or 1, 20)
        rows = None
        if len(labels) and labels[0] >= 0 and len(labels) % cols == 0:
            by_row = labels.reshape(-1, cols)
            rows = [str(r[0]) for r in by_row] if np.all(by_row == by_row[:, :1]) else None
        return Sheet(np.asarray(self.images, np.float32), labels=labels, ncols=cols, row_labels=rows)


def check_output(path, kind: str = "out", *, option: str | None = None) -> Path | None:
    """One output path checked before any work: right suffix, not a folder, folder exists and is writable.

    `kind` is ``out`` (PNG), ``gif`` or ``npz``; `option` is how the front end calls it (the
    CLI's ``--npz``, the studio's field), used in the message. Returns the Path, or None for None.
    """
    if path is None:
        return None
    suffix = SUFFIXES[kind]
    name = option or kind
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise NeuroartError(f"{name} must be a {suffix} file, got {p}")
    if p.is_dir():
        raise NeuroartError(f"{name} {p}: is a folder")
    folder = p.parent
    if not folder.is_dir():
        raise NeuroartError(f"{name} {p}: folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NeuroartError(f"{name} {p}: folder is not writable: {folder}")
    if p.exists() and not os.access(p, os.W_OK):
        raise NeuroartError(f"{name} {p}: file is not writable")
    return p


def check_outputs(*, options: dict[str, str] | None = None, **paths) -> dict[str, Path | None]:
    """`check_output` for each of ``out=``, ``gif=``, ``npz=`` (None skips one)."""
    options = options or {}
    return {kind: check_output(p, kind, option=options.get(kind)) for kind, p in paths.items()}


def recipe(argv: list[str] | None, **extra) -> dict:
    """A recipe: the command line that makes the picture (as an argv list), the version, and `extra`.

    The ``command`` string is derived from ``argv`` for people to read; `neuroart replay`
    only ever runs ``argv`` (and shows the command it derives from it).
    """
    argv = [str(a) for a in (argv or [])]
    out = {"command": "neuroart " + shlex.join(argv), "argv": argv, "version": __version__}
    out.update(extra)
    return out


#: Bounds of a recipe read from a file (a PNG chunk is untrusted input).
MAX_RECIPE_CHARS = 100_000
MAX_ARGV = 256
MAX_ARG_CHARS = 4096


def validate_recipe(obj, *, where: str = "recipe") -> dict:
    """Check a recipe read from a file against its schema; returns it, or one clear NeuroartError.

    A recipe is a JSON object with string keys; ``argv`` (when present) is a list of at most
    `MAX_ARGV` strings, ``command`` and ``version`` are strings, and every other value is a
    JSON scalar or a flat list of scalars (no deep nesting).
    """
    if not isinstance(obj, dict):
        raise NeuroartError(f"{where}: a recipe must be a JSON object, got {type(obj).__name__}")
    scalars = (str, int, float, bool, type(None))
    for key, value in obj.items():
        if not isinstance(key, str) or len(key) > 100:
            raise NeuroartError(f"{where}: bad recipe key {str(key)[:40]!r}")
        if key == "argv":
            if (not isinstance(value, list) or len(value) > MAX_ARGV
                    or not all(isinstance(a, str) and len(a) <= MAX_ARG_CHARS for a in value)):
                raise NeuroartError(f"{where}: the recipe's argv must be a list of at most {MAX_ARGV} strings")
        elif key in ("command", "version"):
            if not isinstance(value, str):
                raise NeuroartError(f"{where}: the recipe's {key} must be a string")
        elif not (isinstance(value, scalars) or (isinstance(value, list) and all(isinstance(v, scalars) for v in value))):
            raise NeuroartError(f"{where}: the recipe's {key!r} must be a number, a string or a flat list")
    return obj


def render(sheet: Sheet, *, scale: int = 3, cmap: str = "gray") -> tuple[np.ndarray, list[np.ndarray]]:
    """The sheet's still (uint8 RGB) and its GIF frames (uint8 RGB), rendered but not written."""
    return render_still(sheet, scale=scale, cmap=cmap), render_frames(sheet, scale=scale, cmap=cmap)


def _grid_options(sheet: Sheet, scale: int, cmap: str) -> dict:
    return dict(ncols=sheet.ncols, row_labels=sheet.row_labels, captions=sheet.captions, scale=scale,
                cmap=cmap, pad=sheet.pad)


def render_still(sheet: Sheet, *, scale: int = 3, cmap: str = "gray") -> np.ndarray:
    """The sheet's still as uint8 RGB: its labelled grid, or its picture pixel for pixel."""
    from .imaging import check_cmap, colorize, make_grid, upscale

    check_cmap(cmap)
    if sheet.picture:
        return upscale(colorize(sheet.images, cmap), scale)
    return make_grid(sheet.images, **_grid_options(sheet, scale, cmap))


def render_frames(sheet: Sheet, *, scale: int = 3, cmap: str = "gray") -> list[np.ndarray]:
    """The sheet's GIF frames as uint8 RGB (cells at least `Sheet.gif_min_scale`), in frame order."""
    from .imaging import check_cmap, colorize, make_grid, upscale

    check_cmap(cmap)
    if sheet.picture:
        return [upscale(colorize(f, cmap), scale) for f in sheet.frames]
    grid = _grid_options(sheet, scale, cmap)
    gscale = max(scale, sheet.gif_min_scale)
    # a frame is a batch of digits (N, h, w), drawn as a grid, or one image (h, w), drawn as is
    return [make_grid(f, **{**grid, "scale": gscale}) if np.ndim(f) == 3 else upscale(colorize(f, cmap), gscale)
            for f in sheet.frames]


def animation(sheet: Sheet, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The sheet's rendered `frames` in GIF order: the last one held `gif_hold` times, then
    played back when `gif_bounce` (used by `save` and by the studio's GIF answers)."""
    pics = list(frames) + [frames[-1]] * sheet.gif_hold
    if sheet.gif_bounce and len(pics) > 2:
        pics = pics + pics[-2:0:-1]
    return pics


def save(sheet: Sheet, *, out=None, gif=None, npz=None, svg=None, scale: int = 3, cmap: str = "gray",
         argv: list[str] | None = None, options: dict[str, str] | None = None,
         svg_layout: dict | None = None) -> list[Path]:
    """Write the sheet as a PNG grid (`out`), a GIF of its frames (`gif`), an npz (`npz`) and its
    digits as pen strokes (`svg`, `neuroart.pen.encode_svg`; `svg_layout` holds its page and margin).

    All or nothing: every path is checked first, everything is rendered, each file is written
    to a temporary file beside its target, and only then are they renamed into place. On any
    failure the temporary files are removed and no target is touched. `argv` is the command
    line recorded in the PNG's recipe; `options` names the paths in messages (``{"npz": "--npz"}``).
    Returns the paths written, in the order out, gif, npz, svg.
    """
    from .imaging import check_cmap, encode_gif, encode_npz, encode_png

    paths = check_outputs(options=options, out=out, gif=gif, npz=npz, svg=svg)
    check_cmap(cmap)
    if gif is not None and not sheet.frames:
        raise NeuroartError(f"{(options or {}).get('gif', 'gif')}: this result has no frames to animate")
    if all(p is None for p in paths.values()):
        raise NeuroartError("nothing to write: give an output path")
    jobs = []  # only what is asked for is rendered (a grid of 10,000 digits is large)
    if paths["out"] is not None:
        still, rec = render_still(sheet, scale=scale, cmap=cmap), recipe(argv, **sheet.recipe)
        jobs.append((paths["out"], lambda f: encode_png(still, f, recipe=rec, composite=sheet.composite)))
    if paths["gif"] is not None:
        pics = animation(sheet, render_frames(sheet, scale=scale, cmap=cmap))
        jobs.append((paths["gif"], lambda f: encode_gif(pics, f, duration_ms=sheet.gif_duration_ms,
                                                        composite=sheet.composite)))
    if paths["npz"] is not None:
        arrays = sheet.npz_arrays()
        jobs.append((paths["npz"], lambda f: encode_npz(arrays, f)))
    if paths["svg"] is not None:
        from .pen import encode_svg

        page = encode_svg(sheet.images, ncols=sheet.ncols, labels=sheet.labels, recipe=recipe(argv, **sheet.recipe),
                          **(svg_layout or {}))
        jobs.append((paths["svg"], lambda f: f.write(page)))
    return write_all(jobs)


def write_all(jobs) -> list[Path]:
    """Run ``(path, write(file_object))`` jobs all or nothing (temporary files, then renames).

    Used by `save` and by anything else that writes a set of files that belong together.
    """
    from ._util import temp_beside

    written: list[tuple[Path, Path]] = []
    target = None  # the file being written when something fails
    try:
        for target, write in jobs:
            fd, tmp = temp_beside(target, ".part")
            written.append((tmp, target))
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise NeuroartError(f"cannot write {target}: {e.strerror or e}") from None
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in written:
        os.replace(tmp, path)
    return [path for _, path in written]


# --------------------------------------------------------------------------- single files


def _one_file(path, suffix: str, encode) -> Path:
    """Write one file atomically (`write_all`), after checking its suffix."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise NeuroartError(f"{path}: output must be a {suffix} file")
    if path.parent and not path.parent.exists():
        raise NeuroartError(f"folder does not exist: {path.parent}")
    write_all([(path, encode)])
    return path


def write_png(rgb: np.ndarray, path: str | os.PathLike, *, recipe: dict | None = None,
              composite: bool = False) -> Path:
    """Write uint8 RGB (or gray) pixels as a PNG, atomically, with the recipe in a text chunk and
    the honest label (`composite`: a real picture went in; see `Sheet`)."""
    from .imaging import encode_png

    return _one_file(path, ".png", lambda f: encode_png(rgb, f, recipe=recipe, composite=composite))


def save_grid(images: np.ndarray, path: str | os.PathLike, *, recipe: dict | None = None, composite: bool = False,
              **grid) -> Path:
    """`neuroart.imaging.make_grid` written as a PNG (see `make_grid` for the layout options)."""
    from .imaging import make_grid

    return write_png(make_grid(images, **grid), path, recipe=recipe, composite=composite)


def save_image(image: np.ndarray, path: str | os.PathLike, *, cmap: str = "gray", scale: int = 1,
               recipe: dict | None = None, composite: bool = False) -> Path:
    """Write one float image (H, W) or (H, W, 3) in [0, 1] as a PNG."""
    from .imaging import colorize, upscale

    return write_png(upscale(colorize(image, cmap), scale), path, recipe=recipe, composite=composite)


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, *, duration_ms: int = 80, loop: int = 0,
             cmap: str = "gray", scale: int = 1, bounce: bool = False, composite: bool = False) -> Path:
    """Write frames (float (H, W) / (H, W, 3) in [0, 1], or uint8 RGB) as an animated GIF.

    `loop=0` loops forever; `bounce` plays the frames forward then backward (as a Sheet's);
    `composite` labels it as made from a real picture (see `Sheet`).
    """
    from .imaging import colorize, encode_gif, upscale

    if Path(path).suffix.lower() == ".gif" and len(frames) < 1:
        raise NeuroartError("a GIF needs at least one frame")
    rgb = [upscale(colorize(f, cmap), scale) for f in frames]
    rgb = animation(Sheet(np.zeros((0, 28, 28), np.float32), gif_bounce=bounce), rgb) if rgb else rgb
    return _one_file(path, ".gif", lambda f: encode_gif(rgb, f, duration_ms=duration_ms, loop=loop,
                                                        composite=composite))


def save_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write arrays as an ``.npz`` whose bytes depend only on the arrays, atomically.

    Fixed zip timestamps, so the same seed gives a byte-identical file; nothing is pickled.
    """
    from .imaging import encode_npz

    return _one_file(path, ".npz", lambda f: encode_npz(arrays, f))


def read_recipe(path: str | os.PathLike) -> dict | None:
    """The recipe stored in a neuroart PNG (checked by `validate_recipe`), or None when it has none."""
    from PIL import Image, UnidentifiedImageError

    from .imaging import RECIPE_KEY

    try:
        with Image.open(path) as im:
            text = im.text.get(RECIPE_KEY) if hasattr(im, "text") else None
    except FileNotFoundError:
        raise NeuroartError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as e:
        raise NeuroartError(f"{path}: not a readable image ({e})") from None
    if text is None:
        return None
    if len(text) > MAX_RECIPE_CHARS:
        raise NeuroartError(f"{path}: its neuroart recipe is too long ({len(text):,} characters)")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise NeuroartError(f"{path}: its neuroart recipe is not valid JSON") from None
    return validate_recipe(obj, where=str(path))


#: Bytes of a file `read_label` looks through for its XMP (neuroart's sit near the start).
MAX_LABEL_SCAN = 1 << 20
_XMP_FIELDS = {"source_type": "DigitalSourceType", "tool": "CreatorTool"}


def read_label(path: str | os.PathLike) -> dict | None:
    """The honest label of a PNG or GIF: ``{"source_type": URI, "tool": "neuroart 0.1.0"}`` from its
    XMP (the keys it has), or None when it carries none.

    The packet is found where XMP puts it (a PNG's ``XML:com.adobe.xmp`` iTXt chunk, a GIF's
    ``XMP DataXMP`` extension) and read with a bounded pattern, never an XML parser (a file is
    untrusted input).
    """
    import re

    from ._util import input_file

    try:
        with open(input_file(path, what="file"), "rb") as f:
            head = f.read(MAX_LABEL_SCAN)
    except OSError as e:
        raise NeuroartError(f"{path}: cannot read ({e.strerror or e})") from None
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith((b"GIF87a", b"GIF89a"))):
        raise NeuroartError(f"{path}: not a PNG or GIF")
    start = max(head.find(b"XML:com.adobe.xmp\x00"), head.find(b"XMP DataXMP"))
    if start < 0:
        return None
    packet = head[start : start + 64_000]
    end = packet.find(b"<?xpacket end")
    text = packet[: end if end > 0 else len(packet)].decode("utf-8", "replace")
    label = {}
    for key, name in _XMP_FIELDS.items():
        m = re.search(rf'{name}(?:="|>)([^"<]{{1,300}})', text)
        if m:
            label[key] = m.group(1).strip()
    return label or None
