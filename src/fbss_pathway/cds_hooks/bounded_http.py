"""Opening a URL within bounds: no redirect followed, the whole request bounded in time.

:func:`open_bounded` is the one way this package reads a URL: the FHIR searches
of :mod:`.fetch` and the key sets of :mod:`.auth`. A request is bounded as a
whole, from connecting to its answer's last byte (a watchdog shuts its sockets
down when its time is up, wherever it waits), not per read of the socket, so a
server sending a byte now and then cannot hold a call. Redirects are not
followed: urllib would send the access token along to any host.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.request
from functools import cache
from types import TracebackType
from typing import Any

__all__ = ["REQUEST_SECONDS", "BoundedResponse", "open_bounded"]

#: Seconds one request may take as a whole, from connecting to the answer's last byte.
REQUEST_SECONDS = 10.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed.

    urllib would send the access token along to any host, and a key set would
    come from wherever the allow-listed URL pointed.
    """

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


class _Watchdog:
    """Shuts a request's sockets down when its time is up, wherever the request waits.

    A socket timeout bounds each read; a server sending a byte now and then never
    trips it. Shutting the socket down ends any read in progress at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def timed_out(self) -> TimeoutError:
        return TimeoutError(f"no answer within {self.seconds:g} s")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also under TLS: only the OS side, from any thread.
    with contextlib.suppress(OSError):  # closed already
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTP(http.client.HTTPConnection):
    watchdog: _Watchdog

    def connect(self) -> None:
        super().connect()
        self.watchdog.watch(self.sock)


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()  # as urllib's own: verified, system CAs


class _WatchedHTTPS(http.client.HTTPSConnection):
    watchdog: _Watchdog

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP (through a proxy's tunnel, if any)
        self.watchdog.watch(self.sock)
        host = getattr(self, "_tunnel_host", None) or self.host
        tls = _tls().wrap_socket(self.sock, server_hostname=host, do_handshake_on_connect=False)
        self.sock = tls
        self.watchdog.watch(tls)  # the handshake is bounded too
        tls.do_handshake()


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)

    def _connection(
        self, host: str, /, *, timeout: float = REQUEST_SECONDS, **_: Any
    ) -> _WatchedHTTP:
        connection = _WatchedHTTP(host, timeout=timeout)
        connection.watchdog = self._watchdog
        return connection


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)

    def _connection(
        self, host: str, /, *, timeout: float = REQUEST_SECONDS, **_: Any
    ) -> _WatchedHTTPS:
        connection = _WatchedHTTPS(host, timeout=timeout, context=_tls())
        connection.watchdog = self._watchdog
        return connection


class BoundedResponse:
    """An answer being read within its request's time; a context manager that closes it."""

    def __init__(self, response: http.client.HTTPResponse, watchdog: _Watchdog) -> None:
        self._response = response
        self._watchdog = watchdog

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; TimeoutError when the request's time ran out meanwhile."""
        try:
            data = self._response.read(size)
        except (OSError, ValueError, http.client.HTTPException):
            if self._watchdog.expired:
                raise self._watchdog.timed_out() from None
            raise
        if self._watchdog.expired:  # the shutdown may read as the end of the answer
            raise self._watchdog.timed_out()
        return data

    def close(self) -> None:
        """Close the answer; its time no longer runs."""
        self._watchdog.cancel()
        self._response.close()

    def __enter__(self) -> BoundedResponse:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_bounded(request: urllib.request.Request, seconds: float) -> BoundedResponse:
    """Open an http(s) request, following no redirect, bounded in time as a whole.

    ``seconds`` counts from now to the last byte read from the answer: connecting,
    TLS, the head and the body together (each read of the socket is bounded by
    it too).

    Raises:
        urllib.error.HTTPError: an HTTP error status, or a redirect; close it.
        TimeoutError: the time ran out.
        OSError, http.client.HTTPException: no connection, or an answer not HTTP.
    """
    watchdog = _Watchdog(seconds)
    opener = urllib.request.build_opener(
        _NoRedirect, _HTTPHandler(watchdog), _HTTPSHandler(watchdog)
    )
    try:
        response = opener.open(request, timeout=seconds)
    except urllib.error.HTTPError:
        watchdog.cancel()
        raise
    except (OSError, ValueError, http.client.HTTPException):
        watchdog.cancel()
        if watchdog.expired:
            raise watchdog.timed_out() from None
        raise
    except BaseException:
        watchdog.cancel()
        raise
    return BoundedResponse(response, watchdog)
