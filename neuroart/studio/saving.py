"""Save: the drawing(s) and the picture made from them, with the recipe that remakes it.

File names are chosen here (``drawing-0001.png``, ``dream-0001.png``) inside the save folder;
nothing in a request names a path. The picture is made by the library from the saved drawing
file, with the very options recorded in its recipe (`neuroart.recipe.command_argv`), and
written by `neuroart.outputs.save`. A folder that was deleted is made again; one that cannot be
written (read-only, replaced by a file or a link) is a 5xx answer that names it.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

from .._util import NeuroartError
from .options import ApiError, style_module
from .uploads import Upload, is_png

_NUMBERED = re.compile(r"[a-z]+-(\d{4,})b?\.png")
_WRITE_FAILED = re.compile(r"^cannot write|folder does not exist|not writable|is a folder")


class SaveFolder:
    """The one folder Save writes into, numbered files, one save at a time."""

    def __init__(self, folder):
        self.folder = Path(folder).expanduser().resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def check(self) -> None:
        """The folder is there (made again if it was deleted), a real folder, and writable."""
        where = f"cannot save into {self.folder}"
        try:
            st = os.lstat(self.folder)
        except FileNotFoundError:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ApiError(500, f"{where}: it was removed and cannot be made again ({e.strerror or e})") from None
            return
        except OSError as e:
            raise ApiError(500, f"{where}: {e.strerror or e}") from None
        if stat.S_ISLNK(st.st_mode):
            raise ApiError(500, f"{where}: it was replaced by a link")
        if not stat.S_ISDIR(st.st_mode):
            raise ApiError(500, f"{where}: it is no longer a folder")
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ApiError(500, f"{where}: the folder is not writable")

    def save(self, kind: str, a: Upload, b: Upload | None, *, digit: int | None, seed: int, steps: int | None,
             frames: int) -> dict:
        """Write the drawing(s) and the picture of `kind`; returns the names, the folder and the recipe."""
        from ..outputs import read_recipe, save, write_all

        for up, name in ((a, "image"), (b, "image_b")):
            if up is not None and not is_png(up):
                raise ApiError(400, f"save keeps the drawing as sent: {name} must be a PNG (the page sends one)")
        if kind == "dream" and digit is None:
            raise ApiError(400, "save of a dream needs the target 'digit'")
        if kind == "morph" and b is None:
            raise ApiError(400, "save of a morph needs the second drawing 'image_b'")
        if kind != "morph" and b is not None:
            raise ApiError(400, f"image_b is for kind 'morph', not {kind!r}")
        with self._lock:
            self.check()
            stem = f"{self._next_number():04d}"
            drawing = self.folder / f"drawing-{stem}.png"
            drawing_b = self.folder / f"drawing-{stem}b.png" if b is not None else None
            out = self.folder / f"{kind}-{stem}.png"
            jobs = [(drawing, lambda f: f.write(a.raw))]
            if b is not None:
                jobs.append((drawing_b, lambda f: f.write(b.raw)))
            try:
                written = write_all(jobs)
                try:
                    sheet, argv = made_from(kind, drawing, drawing_b, out, digit=digit, seed=seed, steps=steps,
                                            frames=frames)
                    save(sheet, out=out, argv=argv)
                except BaseException:
                    for p in written:
                        p.unlink(missing_ok=True)
                    raise
            except (OSError, NeuroartError) as e:
                self._refuse(e)
        files = [p.name for p in (drawing, drawing_b, out) if p is not None]
        return {"files": files, "folder": str(self.folder), "picture": out.name, "recipe": read_recipe(out)}

    def _refuse(self, error: Exception):
        """A write that failed: the folder's fault is a 500 naming it, anything else the library's 400."""
        self.check()  # names what is wrong with the folder, if anything
        text = str(error)
        if isinstance(error, OSError) or _WRITE_FAILED.search(text):
            reason = getattr(error, "strerror", None) or text
            raise ApiError(500, f"cannot save into {self.folder}: {reason}") from None
        raise error

    def _next_number(self) -> int:
        taken = [int(m.group(1)) for name in os.listdir(self.folder) if (m := _NUMBERED.fullmatch(name))]
        return max(taken, default=0) + 1


def made_from(kind: str, drawing: Path, drawing_b: Path | None, out: Path, *, digit, seed, steps, frames):
    """The sheet of `kind`, made by the library from the saved drawing(s), and the command line that
    remakes it: the same options go to the library call and into the recipe, with the drawings'
    hashes keyed as that command's options (what `neuroart replay` records again)."""
    from ..recipe import command_argv, input_hashes

    if kind == "dream":
        from ..dream import dream_sheet
        from .settings import DREAM_OPTIONS

        options = {"start": str(drawing), "per_digit": 1, "steps": steps, "seed": seed, **DREAM_OPTIONS}
        sheet, argv = dream_sheet([digit], **options), command_argv("dream", digit, **options, out=out)
        inputs = {"start": drawing}
    elif kind == "morph":
        from ..generate.sample import morph_sheet

        options = {"frames": frames, "seed": seed}
        sheet = morph_sheet(str(drawing), str(drawing_b), **options)
        argv, inputs = command_argv("morph", drawing, drawing_b, **options, out=out), {"a": drawing, "b": drawing_b}
    else:  # no seed: deterministic
        sheet, argv = style_module().restyle_sheet(str(drawing)), command_argv("restyle", drawing, out=out)
        inputs = {"image": drawing}
    sheet.recipe["inputs_sha256"] = input_hashes(inputs)
    return sheet, argv
