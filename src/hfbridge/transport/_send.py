"""Sending a request: straight to the pool's transport for hfbridge's own clients.

``httpx.Client.send`` wraps every request in its auth flow, redirect loop, event hooks, cookie jar
and response bookkeeping. hfbridge's own clients use none of these on the way out (no auth object,
no hooks, no cookies: :mod:`hfbridge.transport._pool`), so their requests go to the transport
directly, which saved about 30 us per call (BENCHMARKS.md). The rest is kept:

- a redirect answer is followed through ``client.send`` (httpx's own redirect loop), starting
  from the next request, built here by httpx's rules (:func:`redirected`);
- a URL carrying ``user:password@`` and any injected client go through ``client.send``;
- httpx's ``HTTP Request`` INFO log line is written by hfbridge's transport logger at DEBUG.
"""

from __future__ import annotations

import logging

import httpx

from hfbridge._redact import redact_url
from hfbridge.transport._pool import direct_transport

logger = logging.getLogger("hfbridge.transport")


def send_request(
    client: httpx.Client, request: httpx.Request, *, stream: bool = False
) -> httpx.Response:
    """``client.send(request, stream=stream)``, without httpx's bookkeeping where it is unused."""
    transport = direct_transport(client)
    if not isinstance(transport, httpx.BaseTransport) or request.url.userinfo:
        return client.send(request, stream=stream)
    response = transport.handle_request(request)
    response.request = request
    _log(request, response)
    if response.has_redirect_location:
        response.close()
        return client.send(redirected(request, response), stream=stream)
    if not stream:
        try:
            response.read()
        except BaseException:
            response.close()
            raise
    return response


async def asend_request(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool = False
) -> httpx.Response:
    """Async form of :func:`send_request`."""
    transport = direct_transport(client)
    if not isinstance(transport, httpx.AsyncBaseTransport) or request.url.userinfo:
        return await client.send(request, stream=stream)
    response = await transport.handle_async_request(request)
    response.request = request
    _log(request, response)
    if response.has_redirect_location:
        await response.aclose()
        return await client.send(redirected(request, response), stream=stream)
    if not stream:
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
    return response


def redirected(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The request a redirect answer asks for, by the rules of httpx's own redirect loop.

    303, and 302 for anything but HEAD, and 301 after a POST become a GET without body; the
    ``Authorization`` header is dropped when the origin changes, except on an upgrade from http
    to https on the default ports; ``Cookie`` is never carried over.
    """
    url = request.url.join(response.headers["location"])
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
        headers.pop("authorization", None)
    content: bytes | None = request.content
    if method != request.method and method == "GET":
        content = None
        headers.pop("content-length", None)
        headers.pop("transfer-encoding", None)
    return httpx.Request(
        method, url, headers=headers, content=content, extensions=request.extensions
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
