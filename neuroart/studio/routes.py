"""The studio's routes: each handler reads its options and makes one call on the `Studio`
(`neuroart.studio.resources`), which makes one library call.

Every answer is JSON: a library error (`NeuroartError`) is 400 with its one line, a studio
error (`ApiError`) its own status, anything else 500; a client that hangs up mid-request is one
log line. The live reading goes through the micro-batcher; dreams, restyles, morphs and saves
run on a second worker thread, so they never hold up the live reading.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response

from .._util import NeuroartError
from .middleware import error
from .options import REQUIRED, ApiError, choice_option, float_option, int_option
from .settings import DREAM_FRAMES, DREAM_STEPS, LIMITS, MORPH_FRAMES, SAVE_KINDS, SIMILAR_N, STATIC, page_settings
from .uploads import image_option

log = logging.getLogger("neuroart.studio")

IMAGE = image_option("image")
IMAGE_B = image_option("image_b")
SEED = int_option("seed", 0, 2**32 - 1)
DIGIT = int_option("digit", 0, 9)
N = int_option("n", 1, LIMITS["n"])
STEPS = int_option("steps", 1, LIMITS["dream_steps"])


def api(handler):
    """A route answering JSON: the handler's dict, or ``{"error": ...}`` with a 4xx/5xx status."""

    @functools.wraps(handler)
    async def endpoint(request: Request):
        try:
            return JSONResponse(await handler(request))
        except ApiError as e:
            return error(e.status, e.message)
        except NeuroartError as e:
            return error(400, str(e))
        except ClientDisconnect:
            log.warning("%s %s: the client hung up before sending the whole request", request.method, request.url.path)
            return Response(status_code=400)  # nobody is there to read it
        except asyncio.CancelledError:  # Ctrl-C with this request still running: one line, no traceback
            log.warning("%s %s: cancelled, the studio is stopping", request.method, request.url.path)
            return error(503, "the studio is stopping")
        except Exception as e:  # noqa: BLE001 - the server keeps serving
            log.exception("error in %s", request.url.path)
            return error(500, f"internal error: {type(e).__name__}: {str(e)[:200]}")

    return endpoint


async def options(request: Request, spec: dict) -> dict:
    return await request.app.state.bodies.parse(request, spec)


async def make(request: Request, fn, *args, **kwargs):
    """`fn` on the worker thread for making (one at a time), awaited."""
    return await asyncio.get_running_loop().run_in_executor(request.app.state.slow, lambda: fn(*args, **kwargs))


async def index(request: Request):
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


@api
async def info(request: Request):
    return {**request.app.state.studio.info(), **page_settings()}


@api
async def classify(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED)})
    studio = request.app.state.studio
    studio.last_read = time.monotonic()
    return await request.app.state.batcher.submit(opts.pop("image").digit)


@api
async def explain(request: Request):
    from ..explain import DEFAULT_METHOD, METHODS

    opts = await options(request, {"image": (IMAGE, REQUIRED), "method": (choice_option("method", METHODS), DEFAULT_METHOD),
                                   "target": (int_option("target", 0, 9), None),
                                   "versus": (int_option("versus", 0, 9), None)})
    return await make(request, request.app.state.studio.explain, opts.pop("image").digit, **opts)


@api
async def dream(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED), "digit": (DIGIT, REQUIRED), "seed": (SEED, 0),
                                   "steps": (STEPS, DREAM_STEPS),
                                   "frames": (int_option("frames", 0, LIMITS["frames"]), DREAM_FRAMES)})
    return await make(request, request.app.state.studio.dream, opts.pop("image").digit, **opts)


@api
async def restyle(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED), "seed": (SEED, 0)})
    return await make(request, request.app.state.studio.restyle, opts.pop("image").digit, **opts)


@api
async def similar(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED), "seed": (SEED, 0), "n": (N, SIMILAR_N),
                                   "spread": (float_option("spread", 0, 5), 0.5)})
    return await make(request, request.app.state.studio.similar, opts.pop("image").digit, **opts)


@api
async def morph(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED), "image_b": (IMAGE_B, REQUIRED), "seed": (SEED, 0),
                                   "frames": (int_option("frames", 2, LIMITS["frames"]), MORPH_FRAMES)})
    return await make(request, request.app.state.studio.morph, opts.pop("image").digit, opts.pop("image_b").digit,
                      **opts)


@api
async def generate(request: Request):
    opts = await options(request, {"image": (IMAGE, None), "digit": (DIGIT, REQUIRED), "seed": (SEED, 0),
                                   "n": (N, 8), "temperature": (float_option("temperature", 0, 10), 1.0)})
    opts.pop("image")  # accepted for symmetry with the other routes; generating needs no drawing
    return await make(request, request.app.state.studio.generate, **opts)


@api
async def atlas(request: Request):
    return await make(request, request.app.state.studio.atlas)


@api
async def save(request: Request):
    opts = await options(request, {"image": (IMAGE, REQUIRED), "kind": (choice_option("kind", SAVE_KINDS), "dream"),
                                   "image_b": (IMAGE_B, None), "digit": (DIGIT, None), "seed": (SEED, 0),
                                   "steps": (STEPS, DREAM_STEPS),
                                   "frames": (int_option("frames", 2, LIMITS["frames"]), MORPH_FRAMES)})
    return await make(request, request.app.state.studio.save, opts.pop("kind"), opts.pop("image"), opts.pop("image_b"),
                      **opts)
