"""What `explain` returns: an `Explanation`, and its sheet (digit, map, overlay per row)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .._util import NeuroartError
from ..display import Displayed


@dataclass
class Explanation(Displayed):
    """What `explain` found: the digits as the model saw them, their signed maps, and the reading."""

    images: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    maps: np.ndarray  # (N, 28, 28) float32, signed: + for the target, - against it
    targets: np.ndarray  # (N,) int64, the class each map explains
    probs: np.ndarray  # (N, 10) float32, the model's probabilities
    method: str
    model: str
    versus: np.ndarray | None = None  # (N,) int64 when the maps are contrasts
    options: dict = field(default_factory=dict)  # steps, samples, noise, window, seed...

    def sheet(self, *, labels: bool = True):
        """A `neuroart.outputs.Sheet`: one row per digit -- the digit, its map, the overlay.

        The map is drawn in the diverging colour map (`neuroart.imaging.diverging`: warm = for the
        target, cool = against, black = indifferent), each row scaled to its own largest value.
        """
        from ..imaging import diverging, overlay
        from ..outputs import Sheet

        n = len(self.images)
        gray = np.repeat(self.images[..., None], 3, axis=-1)
        colour = diverging(self.maps)
        over = overlay(self.images, self.maps)
        cells = np.stack([gray, colour, over], axis=1).reshape(3 * n, 28, 28, 3).astype(np.float32)
        recipe = {"model": self.model, "method": self.method, **self.options}
        with contextlib.suppress(NeuroartError, OSError):
            from ..models import model_hash

            recipe["model_sha256"] = model_hash(self.model)
        # --npz: `images` are the digits as the model saw them (not the coloured cells)
        arrays = {"images": self.images.astype(np.float32), "maps": self.maps.astype(np.float32),
                  "targets": self.targets.astype(np.int64), "probs": self.probs.astype(np.float32)}
        if self.versus is not None:
            arrays["versus"] = self.versus.astype(np.int64)
        message = f"{self.method} attribution of {n} digit{'s' if n != 1 else ''} on {self.model}"
        return Sheet(images=cells, ncols=3, row_labels=self._row_labels() if labels else None, recipe=recipe,
                     message=message, arrays=arrays, composite=True)

    def _row_labels(self) -> list[str]:
        out = []
        for i, t in enumerate(int(t) for t in self.targets):
            text = f"{t} {self.probs[i, t]:.0%}"
            out.append(text + (f" vs {int(self.versus[i])}" if self.versus is not None else ""))
        return out
