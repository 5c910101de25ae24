"""The studio's ASGI middleware: security headers on every answer, and the request guard.

`RequestGuard` refuses, before any route runs:

- a request with two ``Host`` headers (400), or whose Host is not exactly one of the studio's own
  names with an optional port (421: a page elsewhere cannot reach the studio through DNS
  rebinding; ``[::1].evil.example.com`` is not ``[::1]``);
- a cross-site request (403): a foreign ``Origin`` or ``Referer``, or ``Sec-Fetch-Site`` other
  than ``same-origin``/``none``, on every state-changing method and on every ``/api/`` route (a
  link from elsewhere may still open the page itself).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from .settings import MAX_ECHO, SECURITY_HEADERS

_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]{2,45}\]|[a-z0-9.-]{1,253})(?::(?P<port>[0-9]{1,5}))?")
SAFE_METHODS = ("GET", "HEAD")
SAME_SITE = (b"same-origin", b"none")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def host_name(host: str) -> str | None:
    """The name in a Host header (``[::1]:8000`` -> ``[::1]``), lower case; None unless exactly
    a name or a bracketed IPv6 address with an optional port."""
    m = _HOST.fullmatch(host.lower())
    if not m or (m["port"] is not None and int(m["port"]) > 65535):
        return None
    return m["name"]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 3] + "..."


class SecurityHeaders:
    """The CSP and friends on every response (page, static files, errors)."""

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


class RequestGuard:
    """Refuses duplicate or foreign Host headers and cross-site requests (see the module)."""

    def __init__(self, app, hosts=None):
        self.app = app
        self.hosts = None if hosts is None else {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                return await error(*refusal)(scope, receive, send)
        await self.app(scope, receive, send)

    def refusal(self, scope) -> tuple[int, str] | None:
        headers: dict[bytes, list[bytes]] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), []).append(value)
        hosts = headers.get(b"host", [])
        if len(hosts) > 1:
            return 400, "a request with more than one Host header"
        host = hosts[0].decode("latin-1") if hosts else ""
        if self.hosts is not None and host_name(host) not in self.hosts:
            return 421, f"unknown host {_cut(host)!r}: open the studio at its own address"
        if scope["method"] in SAFE_METHODS and not scope["path"].startswith("/api/"):
            return None
        return self._cross_site(headers, f"{scope.get('scheme', 'http')}://{host.lower()}")

    @staticmethod
    def _cross_site(headers: dict, own: str) -> tuple[int, str] | None:
        sites = headers.get(b"sec-fetch-site", [])
        if any(site.strip().lower() not in SAME_SITE for site in sites):
            return 403, "cross-site requests are refused: use the studio's own page"
        origins = headers.get(b"origin", [])
        if len(origins) > 1 or any(o.decode("latin-1").strip().lower() != own for o in origins):
            return 403, "requests from another origin are refused: use the studio's own page"
        for referer in headers.get(b"referer", []):
            try:
                parts = urlsplit(referer.decode("latin-1").strip())
            except ValueError:  # e.g. an unclosed "[" of an IPv6 address
                parts = None
            if parts is None or f"{parts.scheme}://{parts.netloc}".lower() != own:
                return 403, "requests from another page are refused: use the studio's own page"
        return None
