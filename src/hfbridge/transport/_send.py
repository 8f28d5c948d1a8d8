"""Sending a request: straight to the pool's transport for hfbridge's own clients.

``httpx.Client.send`` wraps every request in its auth flow, redirect loop, event hooks, cookie jar
and response bookkeeping. hfbridge's own clients use none of these on the way out (no auth object,
no hooks, no cookies: :mod:`hfbridge.transport._pool`), so their requests go to the transport
directly, which saved about 30 us per call (BENCHMARKS.md). What hfbridge adds on that path:

- the answer's headers must arrive within the read timeout of the attempt's start, however slowly
  a server trickles them (a :class:`~hfbridge.transport._timing.Deadline`);
- a request that failed on a reused keep-alive connection before any answer (the server closed
  it while idle, just as it was reused) is resent once on a new connection; it never reached the
  server, so this is not a retry;
- redirects are followed here, by httpx's rules (:func:`redirected`), at most
  :data:`MAX_REDIRECTS` times: a ``Location`` that is not an http(s) URL, or a loop, raises
  :class:`~hfbridge.errors.HFResponseError` (never retried); a cross-origin redirect drops every
  credential header, not only ``Authorization``;
- a body is read up to ``max_body_bytes`` once decoded (a gzip bomb cannot exhaust memory);
- httpx's ``HTTP Request`` INFO log line is written by hfbridge's transport logger at DEBUG.

A URL carrying ``user:password@`` and any injected client go through ``client.send`` (the
injected client's own redirect rules apply). With a proxy set in the environment, hfbridge's own
clients go through ``client.send`` (httpx routes by URL) one hop at a time, redirects followed here.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from hfbridge._redact import is_credential_header, redact_url
from hfbridge.errors import HFResponseError, HFResponseTooLargeError
from hfbridge.transport._fastpath import direct_transport, is_own_client
from hfbridge.transport._timing import Deadline, DeadlineExpired, within

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx

logger = logging.getLogger("hfbridge.transport")

_HOST = re.compile(r"^[A-Za-z0-9._~:-]+$")  # a name (IDNs arrive as punycode) or an IP address
MAX_REDIRECTS = 20
"""Redirects followed per request (httpx's default)."""


@functools.cache
def _stale_signs() -> tuple[type[Exception], ...]:
    """Failures that, on a reused connection before any answer, mean the server had closed it."""
    return (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def attempt_deadline(request: httpx.Request) -> Deadline:
    """Give ``request`` a fresh read-timeout :class:`Deadline` (its headers are due by it)."""
    timeouts = dict(request.extensions.get("timeout") or {})
    read = timeouts.get("read")
    deadline = Deadline(float(read) if read is not None else 0.0)
    if read is not None:
        deadline.set(float(read), "response headers")
        timeouts["read"] = deadline
        request.extensions = {**request.extensions, "timeout": timeouts}
    return deadline


def headers_timeout(deadline: Deadline, request: httpx.Request) -> httpx.ReadTimeout:
    """The timeout of an attempt whose response headers did not arrive in time."""
    return httpx.ReadTimeout(
        f"no complete response headers within {float(deadline):g} s (the server sent them too "
        "slowly, or not at all)",
        request=request,
    )


def send_request(
    client: httpx.Client,
    request: httpx.Request,
    *,
    stream: bool = False,
    max_body_bytes: int | None = None,
) -> httpx.Response:
    """``client.send(request, stream=stream)``, with the additions of the module docstring."""
    transport = direct_transport(client)
    deadline = attempt_deadline(request)
    if request.url.userinfo or not is_own_client(client):
        response = client.send(request, stream=True)  # the injected client's own rules
    elif isinstance(transport, httpx.BaseTransport):
        from hfbridge.transport import _network  # noqa: PLC0415 - imports httpcore: on first use

        may_resend = _network.tracks(transport)  # only our network layer tells a reused connection
        response = _follow(transport.handle_request, request, deadline, may_resend=may_resend)
    else:  # a proxy from the environment: httpx routes by URL, hfbridge follows the redirects
        send = functools.partial(client.send, stream=True, follow_redirects=False)
        response = _follow(send, request, deadline, may_resend=False)
    deadline.clear()  # the headers are in: from here, per-read timeouts (and a stream's idle)
    if not stream:
        read_body(response, max_body_bytes)
    return response


Send = Callable[["httpx.Request"], "httpx.Response"]


def _follow(
    send: Send, request: httpx.Request, deadline: Deadline, *, may_resend: bool
) -> httpx.Response:
    for _ in range(MAX_REDIRECTS + 1):
        response = _send_once(send, request, deadline, may_resend=may_resend)
        if not response.has_redirect_location:
            return response
        response.close()
        request = redirected(request, response)
    raise too_many_redirects(request)


def _send_once(
    send: Send, request: httpx.Request, deadline: Deadline, *, may_resend: bool
) -> httpx.Response:
    from hfbridge.transport import _network  # noqa: PLC0415 - imports httpcore: on first use

    _network.begin_attempt()
    try:
        response = send(request)
    except _stale_signs() as exc:
        if not may_resend or _network.opened_connection():
            raise
        log_resend(request, exc)  # a reused connection, closed before any answer: resend once
        return _send_once(send, request, deadline, may_resend=False)
    except httpx.TimeoutException as exc:
        if deadline.expired():
            raise headers_timeout(deadline, request) from exc
        raise
    response.request = request
    _log(request, response)
    return response


async def asend_request(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    stream: bool = False,
    max_body_bytes: int | None = None,
) -> httpx.Response:
    """Async form of :func:`send_request` (the headers deadline is a timer on the task)."""
    deadline = attempt_deadline(request)
    seconds = deadline.remaining()
    try:
        if seconds == float("inf"):
            response = await _asend_headers(client, request)
        else:
            response = await within(seconds, _asend_headers(client, request), "response headers")
    except DeadlineExpired:
        raise headers_timeout(deadline, request) from None
    deadline.clear()
    if not stream:
        await aread_body(response, max_body_bytes)
    return response


async def _asend_headers(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    transport = direct_transport(client)
    if request.url.userinfo or not is_own_client(client):
        return await client.send(request, stream=True)  # the injected client's own rules
    if isinstance(transport, httpx.AsyncBaseTransport):
        send: Callable[[httpx.Request], Awaitable[httpx.Response]] = transport.handle_async_request
    else:  # a proxy from the environment: httpx routes by URL, hfbridge follows the redirects
        send = functools.partial(client.send, stream=True, follow_redirects=False)
    for _ in range(MAX_REDIRECTS + 1):
        response = await send(request)
        response.request = request
        _log(request, response)
        if not response.has_redirect_location:
            return response
        await response.aclose()
        request = redirected(request, response)
    raise too_many_redirects(request)


# --- bodies --------------------------------------------------------------------------------------


def body_too_large(response: httpx.Response, limit: int) -> HFResponseTooLargeError:
    """The error for an answer whose decoded body passed ``limit`` bytes."""
    return HFResponseTooLargeError(
        f"The answer from {redact_url(str(response.request.url))} is larger than {limit:,} bytes "
        "once decoded (max_body_bytes); nothing was kept. If such an answer is expected, raise "
        "the cap: ClientConfig.create(..., max_body_bytes=...), passed as HFClient(config).",
        limit=limit,
        setting="max_body_bytes",
    )


def read_body(response: httpx.Response, limit: int | None) -> bytes:
    """Read ``response``'s decoded body, at most ``limit`` bytes; it is then ``.content``."""
    if limit is None:
        try:
            return response.read()
        except BaseException:
            response.close()
            raise
    try:
        return _keep(response, _capped(response.iter_bytes(), response, limit))
    finally:
        response.close()


async def aread_body(response: httpx.Response, limit: int | None) -> bytes:
    """Async form of :func:`read_body`."""
    if limit is None:
        try:
            return await response.aread()
        except BaseException:
            await response.aclose()
            raise
    try:
        chunks = [chunk async for chunk in _acapped(response.aiter_bytes(), response, limit)]
        return _keep(response, iter(chunks))
    finally:
        await response.aclose()


def _keep(response: httpx.Response, chunks: Iterator[bytes]) -> bytes:
    content = b"".join(chunks)
    response._content = content  # noqa: SLF001 - what Response.read() stores; .content reads it
    return content


def _capped(chunks: Iterator[bytes], response: httpx.Response, limit: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise body_too_large(response, limit)
        yield chunk


async def _acapped(
    chunks: AsyncIterator[bytes], response: httpx.Response, limit: int
) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise body_too_large(response, limit)
        yield chunk


# --- redirects -----------------------------------------------------------------------------------


def too_many_redirects(request: httpx.Request) -> HFResponseError:
    """The error for a redirect chain longer than :data:`MAX_REDIRECTS` (a loop, most likely)."""
    return HFResponseError(
        f"{request.method} {redact_url(str(request.url))} was redirected more than "
        f"{MAX_REDIRECTS} times (a redirect loop?): check base_url and the server's configuration."
    )


def redirected(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The request a redirect answer asks for, by the rules of httpx's own redirect loop.

    303, and 302 for anything but HEAD, and 301 after a POST become a GET without body; the
    credential headers (``Authorization`` and any other, see ``is_credential_header``) are dropped
    when the origin changes, except on an upgrade from http to https on the default ports;
    ``Cookie`` is never carried over. A ``Location`` that is not an http(s) URL with a host raises
    :class:`~hfbridge.errors.HFResponseError`.
    """
    location = response.headers["location"]
    try:
        url = request.url.join(location)
    except httpx.InvalidURL as exc:
        raise _bad_location(request, location, str(exc)) from None
    if url.scheme not in ("http", "https") or not _HOST.match(url.host):
        raise _bad_location(request, location, "not an http(s) URL with a valid host")
    method = request.method
    status = response.status_code
    if status in (302, 303) and method != "HEAD":
        method = "GET"
    if status == 301 and method == "POST":  # noqa: PLR2004
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("host", None)  # set from the new URL
    headers.pop("cookie", None)
    if not _same_origin(request.url, url) and not _https_upgrade(request.url, url):
        for name in [name for name in headers if is_credential_header(name)]:
            headers.pop(name, None)
    content: bytes | None = request.content
    if method != request.method and method == "GET":
        content = None
        headers.pop("content-length", None)
        headers.pop("transfer-encoding", None)
    return httpx.Request(
        method, url, headers=headers, content=content, extensions=request.extensions
    )


def _bad_location(request: httpx.Request, location: str, why: str) -> HFResponseError:
    return HFResponseError(
        f"{request.method} {redact_url(str(request.url))} answered with a redirect to "
        f"{redact_url(location)[:200]!r}, which cannot be followed ({why}): check base_url, or the "
        "proxy or server sending it."
    )


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def _same_origin(before: httpx.URL, after: httpx.URL) -> bool:
    return (before.scheme, before.host, _port(before)) == (after.scheme, after.host, _port(after))


def _https_upgrade(before: httpx.URL, after: httpx.URL) -> bool:
    return (
        before.host == after.host
        and (before.scheme, _port(before)) == ("http", 80)
        and (after.scheme, _port(after)) == ("https", 443)
    )


def _log(request: httpx.Request, response: httpx.Response) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "HTTP Request: %s %s %d", request.method, redact_url(str(request.url)),
            response.status_code,
        )  # fmt: skip


def log_resend(request: httpx.Request, exc: BaseException) -> None:
    """Note at DEBUG that ``request`` is resent (the sync and async transports say it alike)."""
    logger.debug(
        "hfbridge resend: %s %s found its kept-alive connection closed by the server before any "
        "answer (%s); resending once on a new connection",
        request.method, redact_url(str(request.url)), type(exc).__name__,
    )  # fmt: skip


__all__ = [
    "MAX_REDIRECTS",
    "Send",
    "aread_body",
    "asend_request",
    "attempt_deadline",
    "body_too_large",
    "headers_timeout",
    "log_resend",
    "read_body",
    "redirected",
    "send_request",
    "too_many_redirects",
]
