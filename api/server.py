"""How ``facekeep serve`` runs uvicorn: slow or oversized headers are cut off, forwarded
client addresses are believed only from configured proxies, and the development KEK is
refused on a network address.

uvicorn has a keep-alive timeout but none for a client that opens a connection and sends
its headers a byte at a time, and httptools accepts headers of any size: the protocol
below answers ``408`` when the headers are not complete within
``FACEKEEP_HEADER_TIMEOUT_SECONDS`` and ``431`` beyond ``FACEKEEP_MAX_HEADER_BYTES``.
Body timeouts are enforced per request by :mod:`api.gate`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import Settings

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _answer(status: int, message: str) -> bytes:
    body = message.encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _HeadersTooLarge(Exception):
    """Raised from a parser callback; the parser then reports a bad request."""


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """An httptools protocol class with this deployment's header timeout and size."""
    timeout = settings.header_timeout_seconds
    limit = settings.max_header_bytes

    class GuardedProtocol(HttpToolsProtocol):
        """Cuts off a request whose headers come too slowly or are too large."""

        _waiting: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _in_headers = True
        _begun = False
        _oversized = False

        def _start_waiting(self) -> None:
            if self._waiting is None:
                self._waiting = self.loop.call_later(timeout, self._too_slow)

        def _stop_waiting(self) -> None:
            if self._waiting is not None:
                self._waiting.cancel()
                self._waiting = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_waiting()  # a connection opened and never used is closed too

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            # Each request on a kept-alive connection has its headers timed afresh.
            super().on_message_begin()
            self._in_headers, self._begun, self._header_bytes = True, True, 0
            self._start_waiting()

        def _count(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > limit:
                self._oversized = True
                raise _HeadersTooLarge()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._stop_waiting()
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if self._oversized:  # the parser stopped at our callback's exception
                self._refuse(431, "request headers too large")
            else:
                super().send_400_response(msg)

        def _too_slow(self) -> None:
            self._waiting = None
            if self._in_headers and self._begun:
                self._refuse(408, "request headers too slow")
            elif not self._begun:
                self.transport.close()

        def _refuse(self, status: int, message: str) -> None:
            self._stop_waiting()
            if not self.transport.is_closing():
                self.transport.write(_answer(status, message))
                self.transport.close()

    return GuardedProtocol


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` beyond host and port."""
    proxies = settings.proxies()
    return {
        "http": guarded_protocol(settings),
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: a local
        # process could then pose as any address and escape the guessing throttle.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "timeout_keep_alive": 5,
    }


def local_kek_problem(settings: Settings) -> str | None:
    """Why ``serve`` must not start with the development KEK, or None."""
    if settings.kek_provider != "local" or settings.loopback_only() or settings.allow_local_kek:
        return None
    return (
        f"refusing to serve on {settings.host} with the local KEK provider: its key file "
        "(or FACEKEEP_KEK) sits with the key store it protects, so one backup holds both "
        "and erasure could be undone; use FACEKEEP_KEK_PROVIDER=pkcs11 or transit, or set "
        "FACEKEEP_ALLOW_LOCAL_KEK=1 to accept that risk (for example with the KEK on a "
        "separate volume that is never backed up with the data)"
    )


__all__ = ["guarded_protocol", "local_kek_problem", "server_options"]
