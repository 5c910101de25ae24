"""The studio's server: a Starlette app whose routes are a few lines around one library call each.

- `Studio` holds what the page works with -- the reader, the article's MLP (and its hidden layer),
  the cvae -- loaded once at start-up; a request never loads a model;
- `MicroBatcher` gathers concurrent ``/api/classify`` requests into one batched model call;
- `create_app` wires the routes, the static page and the security headers.

Every request body is JSON, at most `MAX_BODY` bytes; images arrive as data URLs and are read by
`neuroart.data.digit_from_bytes` (the same preprocessing as ``neuroart classify``). Options are
checked by `neuroart.validate`: an unknown option, a wrong type or an impossible value is a 4xx
answer ``{"error": "..."}`` and the server keeps serving. The JSON API is documented in
docs/studio.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
import re
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import validate as V
from .._util import NeuroartError

log = logging.getLogger("neuroart.studio")
# Keras notes that a model whose input is named gets a bare tensor; that is how every caller feeds it.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 4 * 1024 * 1024  # bytes of one request body (a drawing is ~10-50 kB)
MAX_PIXELS = 4096 * 4096  # an uploaded image larger than this is refused before decoding
HIDDEN_LAYER = "dense"  # the article MLP's 128 hidden units
#: Nothing from outside: scripts, styles, fonts, connections only from the app itself.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
       "connect-src 'self'; media-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
#: The studio's limits on work per request (the library allows more; the page stays responsive).
LIMITS = {"dream_steps": 400, "frames": 60, "n": 64}
#: The live overlay while drawing: the plain gradient (one backward pass; with the convnet reader,
#: Integrated Gradients even with 4 steps costs 2.5x as much per digit). When the pen lifts the
#: page asks /api/explain for the library's default map (Integrated Gradients).
LIVE_METHOD, LIVE_STEPS = "gradient", 4
DREAM_STEPS = 120  # gradient-ascent steps of "dream it into" (from a drawing: the cnn judge agrees from ~100)
DREAM_FRAMES = 24
SAVE_KINDS = ("dream", "restyle", "morph")


class ApiError(Exception):
    """An answer other than 200: ``{"error": message}`` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """An image as sent (`raw` bytes, kept for Save) and as the network sees it (`digit`, 28x28)."""

    raw: bytes
    digit: np.ndarray


# --------------------------------------------------------------------------- option checking

REQUIRED = object()
_DATA_URL = re.compile(r"data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)
_PNG = b"\x89PNG\r\n\x1a\n"


def image_option(name: str = "image"):
    def parse(value) -> Upload:
        from ..data import digit_from_bytes

        if not isinstance(value, str):
            raise NeuroartError(f"{name} must be a data URL string (data:image/png;base64,...), got {_type(value)}")
        m = _DATA_URL.match(value)
        if not m:
            raise NeuroartError(f"{name} must be a data URL like data:image/png;base64,... (got {value[:30]!r})")
        try:
            raw = base64.b64decode(value[m.end():], validate=True)
        except (binascii.Error, ValueError):
            raise NeuroartError(f"{name}: malformed base64") from None
        return Upload(raw, digit_from_bytes(raw, name=name, max_pixels=MAX_PIXELS))

    return parse


def _type(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", str: "a string"}.get(
        type(value), type(value).__name__)


def int_option(name, low=None, high=None):
    return lambda v: V.integer(name, v, low=low, high=high)


def float_option(name, low=None, high=None):
    return lambda v: V.finite(name, v, low=low, high=high)


def choice_option(name, options):
    return lambda v: V.choice(name, v, options)


IMAGE = image_option("image")
SEED = int_option("seed", 0, 2**32 - 1)
DIGIT = int_option("digit", 0, 9)


def check_options(data: dict, spec: dict) -> dict:
    """The request's options parsed by `spec` (name -> (parser, default)); unknown names refused."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise ApiError(400, f"unknown option {unknown[0]!r} (this route takes: {', '.join(spec)})")
    out = {}
    for name, (parse, default) in spec.items():
        if name in data:
            out[name] = parse(data[name])
        elif default is REQUIRED:
            raise ApiError(400, f"missing option {name!r}")
        else:
            out[name] = default
    return out


async def read_json(request: Request) -> dict:
    """The body as a JSON object: JSON content type, at most `MAX_BODY` bytes (counted as it arrives)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send a JSON body (Content-Type: application/json)")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise ApiError(413, f"request body too large ({int(length):,} bytes; the limit is {MAX_BODY:,})")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"request body too large (over {MAX_BODY:,} bytes)")
    try:
        data = json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"body must be a JSON object, got {_type(data)}")
    return data


# --------------------------------------------------------------------------- pixels for the page


def pixels(image) -> list[int]:
    """A (28, 28) float image as 784 bytes 0-255, row by row (what the page paints)."""
    from ..imaging import to_uint8

    return to_uint8(np.asarray(image, np.float32)).reshape(-1).tolist()


def gif_data_url(sheet, scale: int = 6) -> str:
    """The sheet's animation as a ``data:image/gif`` URL (rendered by `neuroart.outputs`)."""
    from ..imaging import encode_gif
    from ..outputs import render

    _, frames = render(sheet, scale=scale)
    pics = list(frames) + [frames[-1]] * sheet.gif_hold
    if sheet.gif_bounce and len(pics) > 2:
        pics = pics + pics[-2:0:-1]
    buf = io.BytesIO()
    encode_gif(pics, buf, duration_ms=sheet.gif_duration_ms)
    return "data:image/gif;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- the models


class Studio:
    """The models the page works with, loaded once, and one method per thing the page does.

    Methods are synchronous (they run on worker threads); each is a thin wrapper around one
    library call plus the conversion of its result to JSON-ready values.
    """

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
        self.taps = ModelTaps(self.mlp)
        taps = self.taps
        t = tf()

        def mlp_read(x):  # the MLP's probabilities and hidden layer in one pass
            T = taps(x)
            return T("probs"), T(HIDDEN_LAYER)

        # compiled once for any batch size: ~1 ms a call instead of ~6 ms eager
        self._mlp_read = t.function(mlp_read, input_signature=[t.TensorSpec([None, 28, 28], t.float32)])
        self.generator = load_generator("cvae")
        self.others: dict = {}
        self.loaded = threading.Event()  # set by `preload`: every model a request may need is in memory
        self.answered = threading.Event()  # set when the first /api/classify answer has gone out
        self.attribution = attribution
        self.save_dir = Path(save_dir).expanduser().resolve()
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self._atlas: list | None = None
        self._atlas_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self.ready = threading.Event()
        if warm:
            probe = np.zeros((28, 28), np.float32)
            probe[6:22, 13:15] = 1.0  # a "1": the first answer is already compiled
            self.classify([probe])
        self.load_seconds = time.perf_counter() - t0

    def preload(self) -> None:
        """Load what the library loads by name along the way (cached by `load_model`): the dream's
        denoising prior and the judge that names a morph's endpoints. Dream, morph and save wait
        for this, so no request ever loads a model."""
        from ..dream.dreams import resolve_prior
        from ..generate import load_generator
        from ..generate.config import LABEL_JUDGE
        from ..models import load_model

        try:
            prior = resolve_prior("auto")
            self.others = {"prior": load_generator(prior) if prior != "none" else None,
                           "judge": load_model(LABEL_JUDGE)}
        finally:
            self.loaded.set()

    def warm_up(self, *, after_first_answer: float = 0.0) -> None:
        """Load the remaining models and compile the slower pipelines (dream, restyle, the neuron
        atlas) before the first person asks for them -- after the first live answer (or
        `after_first_answer` seconds), so that the warm-up does not delay it."""
        if after_first_answer:
            self.answered.wait(after_first_answer)
        try:
            self.preload()
            probe = np.zeros((28, 28), np.float32)
            probe[6:22, 13:15] = 1.0
            self.classify([probe, probe])  # a batch: the attribution's compiled function takes any size now
            self.dream(probe, digit=7, steps=DREAM_STEPS, frames=DREAM_FRAMES, seed=0)
            if self.restyle_available():
                self.restyle(probe, seed=0)
            self.atlas()
        except Exception:  # pragma: no cover - a warm-up failure shows on the first real request
            log.exception("warm-up failed")
        finally:
            self.ready.set()

    # -- live reading -------------------------------------------------------------------------

    def classify(self, images: list[np.ndarray]) -> list[dict]:
        """Probabilities of the reader and the MLP, hidden activations and attribution, per image."""
        from ..explain import explain

        x = np.stack(images).astype(np.float32)
        ex = explain(x, model=self.reader, method=self.attribution, steps=LIVE_STEPS)
        mlp_probs, hidden = (np.asarray(v, np.float32) for v in self._mlp_read(x))
        out = []
        for i in range(len(x)):
            m = ex.maps[i]
            peak = float(np.abs(m).max()) or 1.0
            out.append({
                "digit": int(ex.targets[i]),
                "reader": {"model": self.reader_name, "probabilities": _round(ex.probs[i])},
                "mlp": {"model": "mlp", "probabilities": _round(mlp_probs[i])},
                "seen": pixels(x[i]),
                "hidden": {"layer": HIDDEN_LAYER, "activations": _round(hidden[i], 3)},
                "attribution": {"method": ex.method, "target": int(ex.targets[i]),
                                "map": np.rint(m / peak * 100).astype(int).reshape(-1).tolist()},
            })
        return out

    def explain(self, image, *, method: str, target, versus) -> dict:
        from ..explain import explain

        ex = explain(image, model=self.reader, method=method, target=target, versus=versus)
        m = ex.maps[0]
        peak = float(np.abs(m).max()) or 1.0
        return {"method": method, "model": self.reader_name, "target": int(ex.targets[0]),
                "versus": None if ex.versus is None else int(ex.versus[0]),
                "probabilities": _round(ex.probs[0]), "seen": pixels(ex.images[0]),
                "map": np.rint(m / peak * 100).astype(int).reshape(-1).tolist(), "peak": peak}

    # -- making ------------------------------------------------------------------------------

    def dream(self, image, *, digit: int, steps: int, frames: int, seed: int) -> dict:
        """Gradient ascent from the drawing towards `digit` on the article MLP, frame by frame."""
        self.loaded.wait()
        from ..classify.read import predict
        from ..dream import dream

        result = dream([digit], per_digit=1, start=image, steps=steps, frames=frames, seed=seed, model=self.mlp)
        probs = predict(self.reader, result.images)[0]
        return {"digit": digit, "image": pixels(result.images[0]), "frames": [pixels(f[0]) for f in result.frames],
                "reader": {"model": self.reader_name, "digit": int(probs.argmax()), "probability": round(float(probs[digit]), 4)},
                "gif": gif_data_url(result.sheet())}

    def restyle_available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("neuroart.generate.restyle") is not None

    def _restyle_module(self):
        import importlib

        try:  # the module (the package's `restyle` name is its function)
            module = importlib.import_module("neuroart.generate.restyle")
        except ImportError:
            raise ApiError(503, "restyle is not available in this neuroart (neuroart.generate.restyle)") from None
        return module

    def restyle(self, image, *, seed: int) -> dict:
        """The drawing's handwriting under every label 0-9 (the cvae)."""
        result = self._restyle_module().restyle(image, digits=range(10), seed=seed, model=self.generator)
        return {"digits": list(range(10)), "images": [pixels(im) for im in result.images]}

    def similar(self, image, *, n: int, spread: float, seed: int) -> dict:
        """More like this: cvae samples near the drawing's style."""
        result = self._restyle_module().similar(image, n=n, spread=spread, seed=seed, model=self.generator)
        images = getattr(result, "images", result)
        return {"images": [pixels(im) for im in images]}

    def morph(self, a, b, *, frames: int, seed: int) -> dict:
        self.loaded.wait()
        from ..generate.sample import morph_sheet

        sheet = morph_sheet(a, b, frames=frames, seed=seed, model=self.generator)
        return {"frames": [pixels(f) for f in sheet.images], "from": sheet.recipe.get("from"),
                "to": sheet.recipe.get("to"), "gif": gif_data_url(sheet)}

    def generate(self, *, digit: int, n: int, seed: int, temperature: float) -> dict:
        from ..generate.sample import generate

        images, labels = generate([digit], per_digit=n, seed=seed, temperature=temperature, model=self.generator)
        return {"digit": digit, "images": [pixels(im) for im in images]}

    def atlas(self) -> dict:
        """The dream of each hidden unit of the MLP (the neuron atlas), made once and kept."""
        from ..dream import dream

        with self._atlas_lock:
            if self._atlas is None:
                units = tuple(range(self.taps.units(HIDDEN_LAYER)))
                result = dream(objective="neuron", layer=HIDDEN_LAYER, units=units, per_digit=1, seed=0,
                               steps=120, model=self.mlp)
                self._atlas = [pixels(im) for im in result.images]
        return {"layer": HIDDEN_LAYER, "model": "mlp", "units": len(self._atlas), "images": self._atlas}

    # -- saving ------------------------------------------------------------------------------

    def save(self, kind: str, a: Upload, b: Upload | None, *, digit: int | None, seed: int, steps: int,
             frames: int) -> dict:
        """Write the drawing(s) and the picture made from them, with the recipe that remakes it.

        File names are chosen here (``drawing-0001.png``, ``dream-0001.png``) inside the save
        folder; nothing in the request names a path. The picture is made from the saved drawing
        file, exactly as the recorded command will make it, and written by `neuroart.outputs.save`.
        """
        from ..imaging import read_recipe
        from ..outputs import save, write_all
        self.loaded.wait()

        for up, name in ((a, "image"), (b, "image_b")):
            if up is not None and not up.raw.startswith(_PNG):
                raise ApiError(400, f"save keeps the drawing as sent: {name} must be a PNG (the page sends one)")
        if kind == "dream" and digit is None:
            raise ApiError(400, "save of a dream needs the target 'digit'")
        if kind == "morph" and b is None:
            raise ApiError(400, "save of a morph needs the second drawing 'image_b'")
        if kind != "morph" and b is not None:
            raise ApiError(400, f"image_b is for kind 'morph', not {kind!r}")
        if kind == "restyle":
            self._restyle_module()
        with self._save_lock:
            number = self._next_number()
            stem = f"{number:04d}"
            drawing = self.save_dir / f"drawing-{stem}.png"
            drawing_b = self.save_dir / f"drawing-{stem}b.png" if b is not None else None
            out = self.save_dir / f"{kind}-{stem}.png"
            jobs = [(drawing, lambda f: f.write(a.raw))]
            if b is not None:
                jobs.append((drawing_b, lambda f: f.write(b.raw)))
            written = write_all(jobs)
            try:
                sheet, argv = self._recipe(kind, drawing, drawing_b, out, digit=digit, seed=seed, steps=steps,
                                           frames=frames)
                save(sheet, out=out, argv=argv)
            except BaseException:
                for p in written:
                    p.unlink(missing_ok=True)
                raise
        files = [p.name for p in (drawing, drawing_b, out) if p is not None]
        return {"files": files, "folder": str(self.save_dir), "picture": out.name, "recipe": read_recipe(out)}

    def _recipe(self, kind, drawing: Path, drawing_b: Path | None, out: Path, *, digit, seed, steps, frames):
        """The sheet for `kind`, made by the library from the saved drawing, and the CLI argv that remakes it."""
        if kind == "dream":
            from ..dream import dream

            result = dream([digit], per_digit=1, start=str(drawing), steps=steps, seed=seed)
            argv = ["dream", str(digit), "--start", str(drawing), "--per-digit", "1", "--steps", str(steps),
                    "--seed", str(seed), "--out", str(out)]
            return result.sheet(), argv
        if kind == "morph":
            from ..generate.sample import morph_sheet

            sheet = morph_sheet(str(drawing), str(drawing_b), frames=frames, seed=seed)
            argv = ["morph", str(drawing), str(drawing_b), "--frames", str(frames), "--seed", str(seed), "--out", str(out)]
            return sheet, argv
        sheet = self._restyle_module().restyle(str(drawing)).sheet()  # deterministic: no seed
        return sheet, ["restyle", str(drawing), "--out", str(out)]

    def _next_number(self) -> int:
        taken = [int(m.group(1)) for p in self.save_dir.glob("*.png")
                 if (m := re.fullmatch(r"[a-z]+-(\d{4,})b?\.png", p.name))]
        return max(taken, default=0) + 1


def _round(values, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(values).reshape(-1)]


# --------------------------------------------------------------------------- batching


class MicroBatcher:
    """Gathers concurrent requests into one call of ``fn(items) -> results`` on a worker thread.

    The first request after a quiet spell runs at once (no added latency for one person
    drawing); requests that arrive while a batch is running wait for the next one, which takes
    them all (up to `max_batch`). Many clients thus share a model call instead of queueing.
    """

    def __init__(self, fn, executor, *, max_batch: int = 64):
        self.fn, self.executor, self.max_batch = fn, executor, max_batch
        self.pending: list = []
        self.task: asyncio.Task | None = None
        self.batches = 0

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((item, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        return await future

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                results = await loop.run_in_executor(self.executor, self.fn, [item for item, _ in batch])
            except Exception as e:  # noqa: BLE001 - every waiting request gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


# --------------------------------------------------------------------------- the app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api(handler):
    """A route: library errors become 400, studio errors their status, anything else 500; all JSON."""

    async def endpoint(request: Request):
        try:
            return JSONResponse(await handler(request))
        except ApiError as e:
            return _error(e.status, e.message)
        except NeuroartError as e:
            return _error(400, str(e))
        except Exception as e:  # noqa: BLE001 - the server keeps serving
            log.exception("error in %s", request.url.path)
            return _error(500, f"internal error: {type(e).__name__}: {str(e)[:200]}")

    endpoint.__name__ = handler.__name__
    return endpoint


class SecurityHeaders:
    """ASGI middleware: the CSP and friends on every response (page, static files, errors)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedHosts:
    """ASGI middleware: refuse requests whose Host is not the studio's own (DNS-rebinding guard)."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in self.hosts:
                response = _error(421, f"unknown host {host!r}: open the studio at its own address")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(*, save_dir="studio", reader: str | None = None, studio: Studio | None = None,
               allowed_hosts=None, warm_up: bool = True) -> Starlette:
    """The studio as an ASGI app. Models load here, once (or pass a ready `studio`).

    `allowed_hosts`: Host names the app answers (None: any; ``neuroart studio`` passes the
    loopback names). `warm_up`: compile dream and restyle in the background after start-up.
    """
    studio = studio or Studio(save_dir=save_dir, reader=reader)
    fast = ThreadPoolExecutor(1, thread_name_prefix="studio-read")  # live reading, batched
    slow = ThreadPoolExecutor(1, thread_name_prefix="studio-make")  # dream, restyle, morph, save
    batcher = MicroBatcher(studio.classify, fast)

    async def run(fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(slow, lambda: fn(*args, **kwargs))

    async def parse(request, spec):
        data = await read_json(request)
        # decoding happens off the event loop: a small file can hold a big picture
        return await run_in_threadpool(check_options, data, spec)

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @api
    async def info(request):
        from .._version import __version__

        return {"version": __version__, "reader": studio.reader_name, "mlp": "mlp", "generator": "cvae",
                "hidden_layer": HIDDEN_LAYER, "attribution": studio.attribution, "save_dir": str(studio.save_dir),
                "restyle": studio.restyle_available(), "limits": {**LIMITS, "body_bytes": MAX_BODY},
                "dream": {"steps": DREAM_STEPS, "frames": DREAM_FRAMES},
                "warm": studio.ready.is_set()}  # dream, restyle and the neuron atlas compiled and made

    @api
    async def classify(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED)})
        answer = await batcher.submit(opts["image"].digit)
        studio.answered.set()
        return answer

    @api
    async def explain(request):
        from ..explain import DEFAULT_METHOD, METHODS

        opts = await parse(request, {"image": (IMAGE, REQUIRED), "method": (choice_option("method", METHODS), DEFAULT_METHOD),
                                     "target": (int_option("target", 0, 9), None), "versus": (int_option("versus", 0, 9), None)})
        return await run(studio.explain, opts.pop("image").digit, **opts)

    @api
    async def dream(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED), "digit": (DIGIT, REQUIRED), "seed": (SEED, 0),
                                     "steps": (int_option("steps", 1, LIMITS["dream_steps"]), DREAM_STEPS),
                                     "frames": (int_option("frames", 0, LIMITS["frames"]), DREAM_FRAMES)})
        return await run(studio.dream, opts.pop("image").digit, **opts)

    @api
    async def restyle(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED), "seed": (SEED, 0)})
        return await run(studio.restyle, opts.pop("image").digit, **opts)

    @api
    async def similar(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED), "seed": (SEED, 0),
                                     "n": (int_option("n", 1, LIMITS["n"]), 8),
                                     "spread": (float_option("spread", 0, 5), 0.5)})
        return await run(studio.similar, opts.pop("image").digit, **opts)

    @api
    async def morph(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED), "image_b": (image_option("image_b"), REQUIRED),
                                     "seed": (SEED, 0), "frames": (int_option("frames", 2, LIMITS["frames"]), 12)})
        return await run(studio.morph, opts.pop("image").digit, opts.pop("image_b").digit, **opts)

    @api
    async def generate(request):
        opts = await parse(request, {"image": (IMAGE, None), "digit": (DIGIT, REQUIRED), "seed": (SEED, 0),
                                     "n": (int_option("n", 1, LIMITS["n"]), 8),
                                     "temperature": (float_option("temperature", 0, 10), 1.0)})
        opts.pop("image")  # accepted for symmetry with the other routes; generating needs no drawing
        return await run(studio.generate, **opts)

    @api
    async def atlas(request):
        return await run(studio.atlas)

    @api
    async def save(request):
        opts = await parse(request, {"image": (IMAGE, REQUIRED), "kind": (choice_option("kind", SAVE_KINDS), "dream"),
                                     "image_b": (image_option("image_b"), None), "digit": (DIGIT, None), "seed": (SEED, 0),
                                     "steps": (int_option("steps", 1, LIMITS["dream_steps"]), DREAM_STEPS),
                                     "frames": (int_option("frames", 2, LIMITS["frames"]), 12)})
        return await run(studio.save, opts.pop("kind"), opts.pop("image"), opts.pop("image_b"), **opts)

    async def http_error(request, exc: HTTPException):
        return _error(exc.status_code, exc.detail or "error")

    post = ["POST"]
    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/atlas", atlas),
        Route("/api/classify", classify, methods=post),
        Route("/api/explain", explain, methods=post),
        Route("/api/dream", dream, methods=post),
        Route("/api/restyle", restyle, methods=post),
        Route("/api/similar", similar, methods=post),
        Route("/api/morph", morph, methods=post),
        Route("/api/generate", generate, methods=post),
        Route("/api/save", save, methods=post),
        Mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static"),
    ]

    async def lifespan(app):
        if warm_up:
            threading.Thread(target=studio.warm_up, kwargs={"after_first_answer": 5.0}, name="studio-warm-up",
                             daemon=True).start()
        else:
            studio.preload()  # the models dream, morph and save wait for, loaded now
            studio.ready.set()
        yield
        fast.shutdown(wait=False, cancel_futures=True)
        slow.shutdown(wait=False, cancel_futures=True)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    lifespan=_lifespan(lifespan))
    if allowed_hosts:
        app.add_middleware(TrustedHosts, hosts=allowed_hosts)
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries the headers
    app.state.studio = studio
    app.state.batcher = batcher
    return app


def _lifespan(gen):
    import contextlib

    return contextlib.asynccontextmanager(gen)
