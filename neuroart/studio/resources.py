"""The studio's resources: the models the page works with, loaded once, and one method per thing
the page does -- each a thin wrapper around one library call plus the conversion of its result
to JSON-ready values. Methods are synchronous (they run on worker threads); no request ever loads
a model.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
import warnings

import numpy as np

from .options import restyle_available, style_module
from .saving import SaveFolder
from .settings import (
    ATLAS_OPTIONS,
    DREAM_FRAMES,
    DREAM_OPTIONS,
    DREAM_STEPS,
    HIDDEN_COLUMNS,
    HIDDEN_LAYER,
    LIVE_METHOD,
    LIVE_STEPS,
)

log = logging.getLogger("neuroart.studio")
# Keras notes that a model whose input is named gets a bare tensor; that is how every caller feeds it.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")


def pixels(image) -> list[int]:
    """A (28, 28) float image as 784 bytes 0-255, row by row (what the page paints)."""
    from ..imaging import to_uint8

    return to_uint8(np.asarray(image, np.float32)).reshape(-1).tolist()


def gif_data_url(sheet, scale: int = 6) -> str:
    """The sheet's animation as a ``data:image/gif`` URL (frames and their order by `neuroart.outputs`)."""
    from ..imaging import encode_gif
    from ..outputs import animation, render

    _, frames = render(sheet, scale=scale)
    gif = encode_gif(animation(sheet, frames), duration_ms=sheet.gif_duration_ms)
    return "data:image/gif;base64," + base64.b64encode(gif).decode("ascii")


def signed_map(m) -> list[int]:
    """An attribution map scaled to -100..100 by its largest magnitude."""
    peak = float(np.abs(m).max()) or 1.0
    return np.rint(m / peak * 100).astype(int).reshape(-1).tolist()


def rounded(values, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(values).reshape(-1)]


def _one_at_a_time(method):
    """Run `method` holding the studio's making lock: a request's dream and the warm-up's never
    run (or compile) the same TensorFlow functions on two threads at once."""
    import functools

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._making:
            return method(self, *args, **kwargs)

    return locked


def _probe() -> np.ndarray:
    probe = np.zeros((28, 28), np.float32)
    probe[6:22, 13:15] = 1.0  # a "1"
    return probe


class Studio:
    """The models the page works with -- the reader, the article's MLP (and its hidden layer), the
    cvae -- loaded once; `warm_up` loads the rest and compiles the slower pipelines."""

    def __init__(self, *, save_dir="studio", reader: str | None = None, attribution: str = LIVE_METHOD,
                 warm: bool = True):
        from .._util import tf
        from ..classify.read import DEFAULT_MODEL
        from ..dream import ModelTaps
        from ..generate import load_generator
        from ..models import load_model

        t0 = time.perf_counter()
        self.reader_name = reader or DEFAULT_MODEL
        self.reader = load_model(self.reader_name)
        self.mlp = load_model("mlp")
        self.taps = taps = ModelTaps(self.mlp)
        t = tf()

        def mlp_read(x):  # the MLP's probabilities and hidden layer in one pass
            T = taps(x)
            return T("probs"), T(HIDDEN_LAYER)

        # compiled once for any batch size: ~1 ms a call instead of ~6 ms eager
        self._mlp_read = t.function(mlp_read, input_signature=[t.TensorSpec([None, 28, 28], t.float32)])
        self.generator = load_generator("cvae")
        self.hidden_units = int(taps.units(HIDDEN_LAYER))
        self.others: dict = {}
        self.loaded = threading.Event()  # set by `preload`: every model a request may need is in memory
        self.ready = threading.Event()  # set when the warm-up is over
        self.stopping = threading.Event()  # set at shutdown: the warm-up stops between steps
        self.last_read = 0.0  # time.monotonic() of the latest live reading
        self.attribution = attribution
        self.saves = SaveFolder(save_dir)
        self._atlas: list | None = None
        self._making = threading.RLock()  # dream, restyle, morph, atlas, save: one at a time
        if warm:
            self.classify([_probe()])  # the first answer is already compiled
        self.load_seconds = time.perf_counter() - t0

    @property
    def save_dir(self):
        return self.saves.folder

    def info(self) -> dict:
        from .._version import __version__

        return {"version": __version__, "reader": self.reader_name, "mlp": "mlp", "generator": "cvae",
                "hidden_layer": HIDDEN_LAYER, "attribution": self.attribution, "save_dir": str(self.save_dir),
                "hidden": {"layer": HIDDEN_LAYER, "units": self.hidden_units,
                           "grid": [HIDDEN_COLUMNS, -(-self.hidden_units // HIDDEN_COLUMNS)]},
                "restyle": restyle_available(), "warm": self.ready.is_set()}

    # -- start-up --------------------------------------------------------------------------

    def preload(self) -> None:
        """Load what the library loads by name along the way (cached by `load_model`): the dream's
        flow (the dreams' and the neuron atlas's) and the judge that names a morph's endpoints.
        Dream, morph and save wait for this, so no request ever loads a model."""
        from ..generate.config import LABEL_JUDGE
        from ..models import load_model

        try:
            self.others = {"judge": load_model(LABEL_JUDGE), "flow": load_model("flow", role="flow")}
        finally:
            self.loaded.set()

    def warm_up(self, *, idle: float = 0.3, patience: float = 5.0) -> None:
        """Warm what the first strokes need first -- batched live readings, the pen-lift map, an
        upload's decoding -- then load the other models, then compile the slower pipelines (dream,
        restyle, the neuron atlas) before anyone asks for them: each of these waits for a pause
        of `idle` seconds in the drawing (at most `patience` seconds), so it does not slow the
        live reading down."""
        from ..explain import DEFAULT_METHOD

        probe = _probe()
        steps = [
            lambda: self.classify([probe, probe]),  # a batch: the compiled attribution takes any size now
            lambda: self.explain(probe, method=DEFAULT_METHOD, target=None, versus=None),
            _warm_decoder,
            self.preload,
            lambda: self.dream(probe, digit=7, steps=DREAM_STEPS, frames=DREAM_FRAMES, seed=0),
            lambda: restyle_available() and self.restyle(probe, seed=0),
            self.atlas,
        ]
        try:
            for i, step in enumerate(steps):
                if self.stopping.is_set():
                    break
                if i >= 4:
                    self._wait_for_a_pause(idle, patience)
                step()
        except Exception:  # pragma: no cover - a warm-up failure shows on the first real request
            log.exception("warm-up failed")
        finally:
            self.loaded.set()
            self.ready.set()

    def _wait_for_a_pause(self, idle: float, patience: float) -> None:
        deadline = time.monotonic() + patience
        while not self.stopping.is_set() and time.monotonic() < deadline:
            quiet = time.monotonic() - self.last_read
            if quiet >= idle:
                return
            self.stopping.wait(idle - quiet)

    # -- live reading -------------------------------------------------------------------------

    def classify(self, images: list[np.ndarray]) -> list[dict]:
        """Probabilities of the reader and the MLP, hidden activations and attribution, per image."""
        from ..explain import explain

        x = np.stack(images).astype(np.float32)
        ex = explain(x, model=self.reader, method=self.attribution, steps=LIVE_STEPS)
        mlp_probs, hidden = (np.asarray(v, np.float32) for v in self._mlp_read(x))
        return [{"digit": int(ex.targets[i]),
                 "reader": {"model": self.reader_name, "probabilities": rounded(ex.probs[i])},
                 "mlp": {"model": "mlp", "probabilities": rounded(mlp_probs[i])},
                 "seen": pixels(x[i]),
                 "hidden": {"layer": HIDDEN_LAYER, "activations": rounded(hidden[i], 3)},
                 "attribution": {"method": ex.method, "target": int(ex.targets[i]), "map": signed_map(ex.maps[i])}}
                for i in range(len(x))]

    def explain(self, image, *, method: str, target, versus) -> dict:
        from ..explain import explain

        ex = explain(image, model=self.reader, method=method, target=target, versus=versus)
        return {"method": method, "model": self.reader_name, "target": int(ex.targets[0]),
                "versus": None if ex.versus is None else int(ex.versus[0]),
                "probabilities": rounded(ex.probs[0]), "seen": pixels(ex.images[0]),
                "map": signed_map(ex.maps[0]), "peak": float(np.abs(ex.maps[0]).max()) or 1.0}

    # -- making ------------------------------------------------------------------------------

    @_one_at_a_time
    def dream(self, image, *, digit: int, steps: int | None, frames: int, seed: int) -> dict:
        """The drawing carried to `digit` by the flow, steered by the article MLP, frame by frame."""
        self.loaded.wait()
        from ..classify.read import predict
        from ..dream import dream

        result = dream([digit], per_digit=1, start=image, steps=steps, frames=frames, seed=seed, model=self.mlp,
                       **DREAM_OPTIONS)
        probs = predict(self.reader, result.images)[0]
        return {"digit": digit, "image": pixels(result.images[0]), "frames": [pixels(f[0]) for f in result.frames],
                "reader": {"model": self.reader_name, "digit": int(probs.argmax()),
                           "probability": round(float(probs[digit]), 4)},
                "gif": gif_data_url(result.sheet())}

    @_one_at_a_time
    def restyle(self, image, *, seed: int) -> dict:
        """The drawing's handwriting under every label 0-9 (the cvae)."""
        result = style_module().restyle(image, digits=range(10), seed=seed, model=self.generator)
        return {"digits": list(range(10)), "images": [pixels(im) for im in result.images]}

    @_one_at_a_time
    def similar(self, image, *, n: int, spread: float, seed: int) -> dict:
        """More like this: cvae samples near the drawing's style."""
        result = style_module().similar(image, n=n, spread=spread, seed=seed, model=self.generator)
        return {"images": [pixels(im) for im in getattr(result, "images", result)]}

    @_one_at_a_time
    def morph(self, a, b, *, frames: int, seed: int) -> dict:
        self.loaded.wait()
        from ..generate.sample import morph_sheet

        sheet = morph_sheet(a, b, frames=frames, seed=seed, model=self.generator)
        return {"frames": [pixels(f) for f in sheet.images], "from": sheet.recipe.get("from"),
                "to": sheet.recipe.get("to"), "gif": gif_data_url(sheet)}

    @_one_at_a_time
    def generate(self, *, digit: int, n: int, seed: int, temperature: float) -> dict:
        from ..generate.sample import generate

        images, _ = generate([digit], per_digit=n, seed=seed, temperature=temperature, model=self.generator)
        return {"digit": digit, "images": [pixels(im) for im in images]}

    @_one_at_a_time
    def atlas(self) -> dict:
        """The dream of each hidden unit of the MLP (the neuron atlas), made once and kept."""
        from ..dream import dream

        if self._atlas is None:
            result = dream(objective="neuron", layer=HIDDEN_LAYER, units=tuple(range(self.hidden_units)),
                           per_digit=1, seed=0, model=self.mlp, **ATLAS_OPTIONS)
            self._atlas = [pixels(im) for im in result.images]
        return {"layer": HIDDEN_LAYER, "model": "mlp", "units": len(self._atlas), "images": self._atlas}

    @_one_at_a_time
    def save(self, kind: str, a, b, *, digit: int | None, seed: int, steps: int | None, frames: int) -> dict:
        """Save's files (see `SaveFolder.save`), once the models it needs are loaded."""
        self.loaded.wait()
        if kind == "restyle":
            style_module()
        return self.saves.save(kind, a, b, digit=digit, seed=seed, steps=steps, frames=frames)


def _warm_decoder() -> None:
    """Pillow's PNG decoder and the MNIST-style preprocessing, once (imports and first-call costs)."""
    from .uploads import read_upload

    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray((_probe() * 255).astype(np.uint8)).resize((56, 56)).save(buf, "PNG")
    read_upload("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
