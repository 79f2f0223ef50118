"""The HTTP/1.1 protocol the service runs on: uvicorn's httptools protocol, its head bounded.

uvicorn parses HTTP with h11 (pure Python) or httptools (llhttp, in C). Measured
on a hook call, httptools costs about 0.1 ms less CPU (8-10 % of the call). But
uvicorn's httptools protocol has no setting that bounds a request's head, where
its h11 one refuses a head past ``h11_max_incomplete_event_size``: a client
could send header bytes without end and the service would keep them. This
subclass keeps the bound: a request whose head (request line and headers) is
larger than :data:`MAX_HEAD` bytes is answered 400 and its connection closed,
as soon as the head is whole, or while it is still arriving once more than
:data:`MAX_HEAD` bytes have been read since it began (whole reads of the
socket are counted, so an endless head is cut off within one read past the
bound; a body that follows a head is never counted).

It writes each answer in one piece: uvicorn writes a response's head as soon as
the app starts the response and its body when the app sends it, two writes to
the socket for every answer, each a TCP segment of its own through the kernel
and a wake-up of the client. Here the head waits for the body's first part
(about 5 µs of the service's CPU an answer, and one wake-up of the client,
less); an answer without a body (to HEAD) leaves when it is complete.

It bounds time as well: uvicorn waits for a request head without end on a new
connection, and on a kept-alive one once a single byte has arrived (its
keep-alive timeout counts only silence after an answer), so that silent or
slow connections held every connection the service allows (then 503 for every
other caller). Here a connection is closed when the head of its next request
is not whole :data:`HEAD_TIMEOUT` seconds after the connection opened or its
last answer was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "HEAD_TIMEOUT",
    "MAX_HEAD",
    "SERVER_OPTIONS",
    "BoundedHttpToolsProtocol",
    "OneWriteTransport",
]

#: The largest request head read, in bytes (request line and headers).
MAX_HEAD = 16 * 1024
#: Seconds from a connection's opening, or its last answer, to its next request's whole head.
HEAD_TIMEOUT = 5.0


class HeadTooLargeError(Exception):
    """A request's head is past :data:`MAX_HEAD` (raised inside the parser's callback)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounding a request head in size and in time.

    At most :data:`MAX_HEAD` bytes, whole within :data:`HEAD_TIMEOUT` seconds.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between the first byte of a request and the end of its head
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request's head must be whole in time."""
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: nothing more to wait for."""
        self._head_arrived()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        """An answer was sent: a kept-alive connection waits for its next head in time."""
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle, kept alive (nothing pipelined)
            self._await_head()

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_late)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        """No whole head in time: the connection is closed (silent, or a head too slow)."""
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        """A request begins: its head is counted from here."""
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        """The head is whole: refused past the bound; what follows is the body."""
        self._in_head = False
        self._head_arrived()
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > MAX_HEAD:  # the parser stops; uvicorn answers 400 and closes
            raise HeadTooLargeError(f"request head larger than {MAX_HEAD} bytes")
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # a new request's cycle
            one_write = OneWriteTransport(self.transport, cycle, cycle.on_response)
            cycle.transport = one_write  # type: ignore[assignment]
            cycle.on_response = one_write.responded

    def data_received(self, data: bytes) -> None:
        """Parse a read; refuse the request if its head is still open past the bound."""
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self.logger.warning("Request head larger than %d bytes.", MAX_HEAD)
                self.send_400_response("Request head too large.")


class OneWriteTransport:
    """A response cycle's transport: the response head waits for the body's first part.

    The head is the cycle's first write once its response has started (a ``100
    Continue`` goes before that, at once); it leaves with the next write, when the
    answer is complete (:meth:`responded`, the cycle's callback then, before the
    protocol's), or when the connection is closed. Anything else is the
    connection's transport's.
    """

    __slots__ = ("_cycle", "_head", "_headed", "_on_response", "_transport")

    def __init__(
        self, transport: asyncio.Transport, cycle: Any, on_response: Callable[[], None]
    ) -> None:
        self._transport = transport
        self._cycle = cycle
        self._on_response = on_response
        self._head: bytes | None = None
        self._headed = False  # the head was written (held, or sent)

    def responded(self) -> None:
        """The answer is complete: send a head still held (an answer to HEAD), then go on."""
        self._cycle = None  # the cycle holds this transport: no reference cycle left behind
        self.flush()
        self._on_response()

    def write(self, data: bytes) -> None:
        """Hold the response head; send anything else, after the head if one is held."""
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        elif not self._headed and self._cycle.response_started:
            self._head, self._headed = data, True
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send the head if it is still held."""
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        """Close the connection, after what was written."""
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


#: How uvicorn runs the service (``fbss-pathway serve``, and the tests' servers): this
#: protocol (a request head within 16 KB and :data:`HEAD_TIMEOUT` seconds); no access
#: log (the service logs its own events, without patient data); idle keep-alive
#: connections closed after 5 s; at most 100 connections (more get 503).
SERVER_OPTIONS: dict[str, Any] = {
    "http": BoundedHttpToolsProtocol,
    "access_log": False,
    "timeout_keep_alive": 5,
    "limit_concurrency": 100,
}
