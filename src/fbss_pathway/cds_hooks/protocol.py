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
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD", "SERVER_OPTIONS", "BoundedHttpToolsProtocol"]

#: The largest request head read, in bytes (request line and headers).
MAX_HEAD = 16 * 1024


class HeadTooLargeError(Exception):
    """A request's head is past :data:`MAX_HEAD` (raised inside the parser's callback)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head past :data:`MAX_HEAD` bytes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between the first byte of a request and the end of its head
        self._head_bytes = 0

    def on_message_begin(self) -> None:
        """A request begins: its head is counted from here."""
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        """The head is whole: refused past the bound; what follows is the body."""
        self._in_head = False
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > MAX_HEAD:  # the parser stops; uvicorn answers 400 and closes
            raise HeadTooLargeError(f"request head larger than {MAX_HEAD} bytes")
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        """Parse a read; refuse the request if its head is still open past the bound."""
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self.logger.warning("Request head larger than %d bytes.", MAX_HEAD)
                self.send_400_response("Request head too large.")


#: How uvicorn runs the service (``fbss-pathway serve``, and the tests' servers): this
#: protocol; no access log (the service logs its own events, without patient data);
#: idle keep-alive connections closed after 5 s; at most 100 connections (more get 503).
SERVER_OPTIONS: dict[str, Any] = {
    "http": BoundedHttpToolsProtocol,
    "access_log": False,
    "timeout_keep_alive": 5,
    "limit_concurrency": 100,
}
