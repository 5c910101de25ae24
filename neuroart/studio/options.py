"""A request's options: its JSON body read within limits, each option parsed, unknown ones refused.

`read_body` reads at most `MAX_BODY` bytes within `BODY_SECONDS`; a body larger than
`SMALL_BODY` first takes one of `HEAVY_SLOTS` and keeps it while it is parsed and its images
decoded (`parse`), so memory stays bounded whatever the number of concurrent uploads, and live
drawings (a few kB) never queue behind them. Option values are checked by `neuroart.validate`
(the library's own messages); images by `neuroart.studio.uploads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .. import validate as V
from .._util import NeuroartError
from .settings import BODY_SECONDS, HEAVY_SLOTS, MAX_BODY, MAX_ECHO, SMALL_BODY

REQUIRED = object()


class ApiError(Exception):
    """An answer other than 200: ``{"error": message}`` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def shown(value) -> str:
    """A request's value as repeated in a message: at most `MAX_ECHO` characters."""
    text = repr(value)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 3] + "..."


def type_name(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", str: "a string"}.get(
        type(value), type(value).__name__)


def int_option(name, low=None, high=None):
    return lambda v: V.integer(name, v, low=low, high=high)


def float_option(name, low=None, high=None):
    return lambda v: V.finite(name, v, low=low, high=high)


def choice_option(name, options):
    return lambda v: V.choice(name, v, options)


def check_options(data: dict, spec: dict) -> dict:
    """The request's options parsed by `spec` (name -> (parser, default)); unknown names refused."""
    unknown = sorted(set(data) - set(spec), key=str)
    if unknown:
        raise ApiError(400, f"unknown option {shown(unknown[0])} (this route takes: {', '.join(spec)})")
    out = {}
    for name, (parse, default) in spec.items():
        if name in data:
            out[name] = parse(data[name])
        elif default is REQUIRED:
            raise ApiError(400, f"missing option {name!r}")
        else:
            out[name] = default
    return out


def load_json(body: bytes) -> dict:
    """The body as a JSON object (any nesting depth is refused as invalid, never a crash)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"body must be a JSON object, got {type_name(data)}")
    return data


class BodyReader:
    """Reads request bodies: JSON only, at most `MAX_BODY` bytes, large ones a few at a time."""

    def __init__(self, slots: int = HEAVY_SLOTS):
        self.heavy = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def body(self, request: Request):
        """The body's bytes, inside the block; a large body holds a heavy slot until the block ends."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, "send a JSON body (Content-Type: application/json)")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            raise ApiError(413, f"request body too large ({int(length):,} bytes; the limit is {MAX_BODY:,})")
        async with contextlib.AsyncExitStack() as stack:
            known_small = length.isdigit() and int(length) <= SMALL_BODY
            if not known_small:  # a large or chunked body: wait for a slot before buffering it
                await stack.enter_async_context(self.heavy)
            try:
                body = await asyncio.wait_for(self._read(request), BODY_SECONDS)
            except asyncio.TimeoutError:
                raise ApiError(408, f"the request body did not arrive within {BODY_SECONDS:g} s") from None
            yield body

    async def _read(self, request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                del body  # not kept alive by the error's traceback
                raise ApiError(413, f"request body too large (over {MAX_BODY:,} bytes)")
        return bytes(body)

    async def parse(self, request: Request, spec: dict) -> dict:
        """The request's options by `spec`; JSON parsing and image decoding run off the event loop.

        A refusal crosses from the worker thread as its status and message only, and is raised
        here once the body is gone: an exception's traceback would keep the request's megabytes
        alive (in reference cycles, until the garbage collector runs) -- with 100 concurrent
        uploads refused, over a gigabyte.
        """
        async with self.body(request) as body:
            opts, refusal = await run_in_threadpool(_options_or_refusal, body, spec)
            del body
        if refusal is not None:
            raise ApiError(*refusal)
        return opts


def _options_or_refusal(body: bytes, spec: dict) -> tuple[dict | None, tuple[int, str] | None]:
    try:
        return check_options(load_json(body), spec), None
    except ApiError as e:
        return None, (e.status, e.message)
    except NeuroartError as e:
        return None, (400, str(e))


def style_module():
    """`neuroart.generate.style` (restyle, similar and their sheets); 503 when it is not installed.

    Here, below both `resources` and `saving` that use it (neither imports the other's way up)."""
    try:
        from ..generate import style
    except ImportError:
        raise ApiError(503, "restyle is not available in this neuroart (neuroart.generate.style)") from None
    return style


def restyle_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("neuroart.generate.style") is not None
