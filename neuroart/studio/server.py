"""Serving the studio: uvicorn with the studio's connection limits, and a clean stop.

uvicorn alone keeps a connection that never finishes its request head open forever, and its
httptools parser takes headers of any size. `guarded_protocol` adds to uvicorn's own HTTP
protocol (httptools when installed, else h11): a deadline for every request head
(`HEAD_SECONDS`, a trickle of bytes does not extend it), a size limit for it (`MAX_HEAD`: 431),
and a cap on open connections (`MAX_CONNECTIONS`): a connection beyond it evicts the one idle
longest (connected and silent, or silent since its last answer), so a thousand idle sockets
never lock out a real request; it is refused only when every other connection is busy. `config` adds the keep-alive timeout, the
limit on requests in progress and h11's own head limit.

`run` serves until Ctrl-C, then ends the process at once (``os._exit``) once uvicorn has shut
down, whatever exception ends the serving: TensorFlow's threads must not meet the interpreter's
exit ("terminate called after throwing an instance of ...", or a segmentation fault), so the
exit status is 0 every time.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from .settings import HEAD_SECONDS, KEEP_ALIVE_SECONDS, MAX_CONNECTIONS, MAX_HEAD, MAX_TASKS, SHUTDOWN_SECONDS

_TOO_LARGE_BODY = b'{"error": "request line and headers too large"}'
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY))


def guarded_protocol():
    """uvicorn's HTTP protocol class with a head deadline, a head size limit and a connection cap."""
    try:
        import httptools  # noqa: F401 - uvicorn's faster parser, when installed
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base

    class GuardedProtocol(Base):
        _head_timer = None

        _idle_since = None  # loop time since which the connection waits for a head and got no byte of it

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS and not self._evict_idle():
                transport.abort()  # every other connection is busy with a request
                return
            self._await_head()

        def _evict_idle(self) -> bool:
            """Make room by closing the connection idle longest (connected, or done with its last
            request, and silent since): idle sockets never lock a real request out. False when
            no other connection is idle."""
            idle = [c for c in self.connections if c is not self and getattr(c, "_idle_since", None) is not None]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._idle_since)
            oldest._idle_since = None
            oldest._stop_clock()
            oldest.transport.abort()
            return True

        def _await_head(self) -> None:
            """Start the clock (and the byte count) for the next request head."""
            self._stop_clock()
            self._head_bytes = 0
            self._head_cycle = self.cycle
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
            self._idle_since = self.loop.time()

        def _stop_clock(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self.cycle is None or self.cycle.response_complete:  # no request in progress
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            self._idle_since = None
            waiting = self._head_timer is not None
            super().data_received(data)
            if not waiting or self.transport.is_closing():
                return
            if self.cycle is not self._head_cycle:  # a new request's head is complete
                self._stop_clock()
                return
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._stop_clock()
                self.transport.write(TOO_LARGE)
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()

        def connection_lost(self, exc) -> None:
            self._idle_since = None
            self._stop_clock()
            super().connection_lost(exc)

    return GuardedProtocol


def config(app, *, host: str, port: int, **options):
    """uvicorn's Config for the studio: its protocol, limits and timeouts (`options` override)."""
    import uvicorn

    settings = dict(http=guarded_protocol(), lifespan="on", log_level="warning",
                    timeout_keep_alive=KEEP_ALIVE_SECONDS, limit_concurrency=MAX_TASKS,
                    h11_max_incomplete_event_size=MAX_HEAD, timeout_graceful_shutdown=SHUTDOWN_SECONDS)
    return uvicorn.Config(app, host=host, port=port, **{**settings, **options})


def run(app, *, host: str, port: int, url: str, open_browser: bool = True) -> None:
    """Serve `app` until Ctrl-C, then end the process with status 0 (never returns).

    Whatever ends the serving -- the Ctrl-C uvicorn re-raises, the cancellation asyncio may turn
    it into, a SystemExit, an error -- the process ends here, with ``os._exit``: an interpreter
    shutting down beside TensorFlow's running threads can crash (SIGSEGV) or abort.
    """
    import asyncio

    import uvicorn

    server = uvicorn.Server(config(app, host=host, port=port))
    if open_browser:
        threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
    code = 0
    try:
        server.run()
    except (KeyboardInterrupt, asyncio.CancelledError):  # uvicorn re-raises the Ctrl-C it handled, after a clean shutdown
        pass
    except SystemExit as e:  # uvicorn's start-up failures
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - reported in one line, then the same clean end
        print(f"studio error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("studio stopped", flush=True)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)


def _open_when_started(server, url: str) -> None:
    import webbrowser

    while not server.started and not server.should_exit:
        threading.Event().wait(0.05)
    if server.started:
        webbrowser.open(url)
