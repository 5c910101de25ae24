"""How a result shows itself: a picture in a notebook, one short line in a terminal.

`Displayed` is the mixin of what the API returns (a dream, generated digits, an explanation, a
restyle, a `neuroart.outputs.Sheet`). Jupyter (IPython's rich display) calls `_repr_mimebundle_`:
the result's labelled grid as ``image/png`` (its ``sheet()``, drawn as the PNG a command writes,
honest label included) and, when it has frames, its animation as an inline GIF (``text/html``, a
base64 ``<img>``); `_repr_png_` is the still alone. A plain terminal gets `__repr__`: the class
and its fields in brief (shapes and sizes, never the numbers).

A result without a ``sheet()`` (the low-level `neuroart.dream.render`'s) is drawn as a plain grid
of its ``images``. Pixels still become bytes only in `neuroart.imaging`; the sheet's own methods
(`neuroart.outputs.Sheet.to_png`, `to_gif`) lay it out.
"""

from __future__ import annotations

import base64
import dataclasses

#: Pixel size of a digit's cells in a notebook (28 -> 56 pixels: small, so a notebook stays light).
DISPLAY_SCALE = 2
#: Beyond this many digits a sheet is shown at scale 1.
MAX_SCALED_CELLS = 400
#: A field's value is shown in at most this many characters by `__repr__`.
MAX_FIELD_CHARS = 40


def _brief(value) -> str:
    """One field's value in a few characters: an array's dtype and shape, a list's length."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{value.dtype}{list(value.shape)}"
    if isinstance(value, (list, tuple)) and (len(value) > 4 or any(hasattr(v, "shape") for v in value)):
        return f"[{len(value)} items]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(...)"
    text = repr(value)
    return text if len(text) <= MAX_FIELD_CHARS else text[: MAX_FIELD_CHARS - 3] + "..."


def _is_default(field: dataclasses.Field, value) -> bool:
    """Whether a dataclass field still holds its default (left out of `__repr__`): an empty list
    or dict from a factory, or the very default value (compared only for plain scalars)."""
    if field.default_factory is not dataclasses.MISSING:
        return isinstance(value, (list, dict)) and not value
    if field.default is dataclasses.MISSING:
        return False
    return value is field.default or (type(value) in (bool, int, float, str) and value == field.default)


class Displayed:
    """Mixin: a result that shows itself as a picture in Jupyter and as one short line elsewhere.

    A subclass gives ``sheet()`` (a `neuroart.outputs.Sheet`), or at least ``images``. The mixin's
    `__repr__` is copied into each subclass, so ``@dataclass`` (which writes a ``__repr__`` only
    where the class body has none) keeps the short one.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = Displayed.__repr__

    def __repr__(self) -> str:
        if dataclasses.is_dataclass(self):
            names = [f.name for f in dataclasses.fields(self) if not _is_default(f, getattr(self, f.name))]
        else:
            names = list(getattr(self, "_fields", ()))  # a named tuple
        return f"{type(self).__name__}({', '.join(f'{n}={_brief(getattr(self, n))}' for n in names)})"

    def _display_parts(self, *, animate: bool) -> tuple[bytes | None, bytes | None]:
        """(PNG of the still, GIF of the frames when `animate`), each None when there is nothing to draw."""
        if not hasattr(self, "sheet"):
            return self._plain_grid(animate=animate)
        sheet = self.sheet()
        n = len(sheet.images)
        if not n:
            return None, None
        scale = 1 if sheet.picture or n > MAX_SCALED_CELLS else DISPLAY_SCALE
        gif = sheet.to_gif(scale=scale) if animate and sheet.frames else None
        return sheet.to_png(scale=scale), gif

    def _plain_grid(self, *, animate: bool) -> tuple[bytes | None, bytes | None]:
        from .imaging import encode_gif, encode_png, make_grid

        images = getattr(self, "images", None)
        if images is None or not len(images):
            return None, None
        scale = 1 if len(images) > MAX_SCALED_CELLS else DISPLAY_SCALE
        frames = list(getattr(self, "frames", None) or ()) if animate else []
        gif = encode_gif([make_grid(f, scale=scale) for f in frames]) if frames else None
        return encode_png(make_grid(images, scale=scale)), gif

    def _repr_png_(self) -> bytes | None:
        return self._display_parts(animate=False)[0]

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        png, gif = self._display_parts(animate=True)
        bundle = {} if png is None else {"image/png": png}
        if gif is not None:
            data = base64.b64encode(gif).decode("ascii")
            bundle["text/html"] = f'<img src="data:image/gif;base64,{data}" alt="{type(self).__name__} animation">'
        return bundle
