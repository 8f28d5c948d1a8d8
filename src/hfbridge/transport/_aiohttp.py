"""An ``httpx`` async transport over aiohttp.

Measured on this project's 2-core machine against nginx on loopback with 64 requests in flight,
``httpx.AsyncClient`` on its default transport reaches about 390 req/s and aiohttp about 3,900; this
transport keeps httpx as the interface and gets most of aiohttp's speed. aiohttp errors are mapped
onto httpx's exception classes so that the client sees one error vocabulary.

A request that fails on a reused keep-alive connection before any answer (the server closed it while
idle, just as it was reused) is resent once on a new connection, as the sync path does
(:mod:`hfbridge.transport._send`); aiohttp does so itself for idempotent methods only. A body larger
than 1 MiB is handed over as a stream, which aiohttp writes in pieces (raw bytes that large make it
warn that the loop may block: a ``ResourceWarning``, fatal under ``-W error``).

The mapped error does not chain to aiohttp's: several aiohttp exceptions hold the request (with
its ``Authorization`` header) in ``request_info``, which traceback printers that show local
variables or exception reprs (pytest ``--showlocals``, rich) would print. The httpx error is raised
outside the ``except`` block, so it has neither a ``__cause__`` nor a ``__context__`` to follow.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

from hfbridge.transport._send import log_resend

_CHUNK = 64 * 1024
_LARGE_BODY = 1024 * 1024  # aiohttp's threshold for its "large body" ResourceWarning
_opened: contextvars.ContextVar[bool] = contextvars.ContextVar("hfbridge_opened", default=False)


class _Connector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that notes, for the running task, that it opened a new connection."""

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        _opened.set(True)  # connect() awaits this in the caller's task: the caller sees the flag
        return await super()._create_connection(*args, **kwargs)


def _map_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """Translate an aiohttp (or asyncio) failure into the matching httpx exception."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    return httpx.ReadError(message, request=request)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.content.iter_chunked(_CHUNK)
        while True:
            failure: httpx.TransportError | None = None
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failure = _map_error(exc, self._request)
            if failure is not None:
                raise failure  # outside the except block: no chain to aiohttp (module docstring)
            yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one aiohttp session, created lazily in the running loop."""

    def __init__(self, *, verify: bool | str = True, limits: httpx.Limits) -> None:
        self._verify = verify
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        ssl_context = httpx.create_ssl_context(verify=self._verify)
        connector = _Connector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 30.0,
            ssl=ssl_context,
        )
        return aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return a streaming response."""
        if self._session is None:
            self._session = self._new_session()
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        content = (await request.aread()) or None  # a 307/308 re-sends a body stream
        failure: httpx.TransportError | None = None
        for may_resend in (True, False):
            _opened.set(False)
            try:
                response = await self._session.request(
                    request.method,
                    str(request.url),
                    headers=request.headers.multi_items(),
                    data=io.BytesIO(content) if content and len(content) > _LARGE_BODY else content,
                    allow_redirects=False,
                    compress=None,
                    timeout=timeout,
                )
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                stale = not isinstance(exc, aiohttp.ClientConnectorError) and not _opened.get()
                if may_resend and stale:
                    log_resend(request, exc)
                    continue
                failure = _map_error(exc, request)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failure = _map_error(exc, request)
            break
        if failure is not None:
            raise failure  # outside the except block: no chain to aiohttp (module docstring)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
