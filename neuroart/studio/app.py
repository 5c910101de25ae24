"""The studio's server: a Starlette app cut by job, like Starlette's own example apps.

- `settings`: every limit, default and header; `options` and `uploads`: a request's JSON body
  and its images, read within limits;
- `resources`: the `Studio` -- the models, loaded once, one method per thing the page does;
  `saving`: Save's folder; `batcher`: the live readings' micro-batcher;
- `routes`: the handlers; `middleware`: security headers, Host and cross-site guard;
- `server`: uvicorn with the studio's connection limits and a clean Ctrl-C;
- this module: `create_app`, the routes list and the start-up/shut-down.

The JSON API is documented in docs/studio.md.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import routes as r
from .batcher import MicroBatcher
from .middleware import RequestGuard, SecurityHeaders, error
from .options import ApiError, BodyReader
from .resources import Studio
from .settings import MAX_BODY, MAX_PIXELS, STATIC

__all__ = ["ApiError", "MAX_BODY", "MAX_PIXELS", "Studio", "create_app", "ROUTES"]

POST = ["POST"]
ROUTES = [
    Route("/", r.index),
    Route("/api/info", r.info),
    Route("/api/atlas", r.atlas),
    Route("/api/classify", r.classify, methods=POST),
    Route("/api/explain", r.explain, methods=POST),
    Route("/api/dream", r.dream, methods=POST),
    Route("/api/restyle", r.restyle, methods=POST),
    Route("/api/similar", r.similar, methods=POST),
    Route("/api/morph", r.morph, methods=POST),
    Route("/api/generate", r.generate, methods=POST),
    Route("/api/save", r.save, methods=POST),
    Mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static"),
]


async def http_error(request, exc: HTTPException):
    return error(exc.status_code, exc.detail or "error")


def create_app(*, save_dir="studio", reader: str | None = None, studio: Studio | None = None,
               allowed_hosts=None, warm_up: bool = True) -> Starlette:
    """The studio as an ASGI app. Models load here, once (or pass a ready `studio`).

    `allowed_hosts`: Host names the app answers (None: any; ``neuroart studio`` passes the
    loopback names). `warm_up`: warm the live reading, then load and compile the rest, in the
    background after start-up (False: only load the models dream, morph and save wait for).
    """
    studio = studio or Studio(save_dir=save_dir, reader=reader)
    fast = ThreadPoolExecutor(1, thread_name_prefix="studio-read")  # live reading, batched
    slow = ThreadPoolExecutor(1, thread_name_prefix="studio-make")  # dream, restyle, morph, save

    @contextlib.asynccontextmanager
    async def lifespan(app):
        warmer = None
        if warm_up:
            warmer = threading.Thread(target=studio.warm_up, name="studio-warm-up", daemon=True)
            warmer.start()
        else:
            studio.preload()  # the models dream, morph and save wait for, loaded now
            studio.ready.set()
        yield
        studio.stopping.set()  # the warm-up stops between two steps
        fast.shutdown(wait=False, cancel_futures=True)
        slow.shutdown(wait=False, cancel_futures=True)
        if warmer is not None:
            warmer.join(timeout=5)

    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: http_error}, lifespan=lifespan,
                    middleware=[Middleware(SecurityHeaders),  # outermost: every answer carries the headers
                                Middleware(RequestGuard, hosts=allowed_hosts)])
    app.state.studio = studio
    app.state.batcher = MicroBatcher(studio.classify, fast)
    app.state.slow = slow
    app.state.bodies = BodyReader()
    return app
