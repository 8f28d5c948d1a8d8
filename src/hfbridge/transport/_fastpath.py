"""The httpx fast paths: where hfbridge's own clients go around httpx's per-request machinery.

For each request, ``httpx.Client`` merges the client's settings into it (``build_request``), then
runs it through its auth flow, redirect loop, event hooks and cookie jar (``send``). hfbridge's own
clients (:mod:`hfbridge.transport._pool`) use none of that on the way out: no auth object, no
hooks, no cookies, no base URL, httpx's default headers. So their requests are built here once per
distinct URL and headers, and handed to the transport directly, which saved about 30 us per call
and a sixth of a request's client time in cookie parsing (BENCHMARKS.md). Injected clients, URLs
with ``user:password@`` and proxies from the environment keep httpx's own path.

The httpx internals this module relies on (check each one when httpx is upgraded; the equivalence
tests in ``tests/transport/test_fastpath.py`` compare every shortcut with what httpx does):

1. ``Client._cookies`` / ``AsyncClient._cookies``: the private attribute behind the ``cookies``
   property (whose setter copies any jar into a plain one); replaced by a jar that keeps nothing
   (:func:`without_cookies`).
2. What ``Client.build_request`` builds: headers = ``httpx.Headers(client.headers)`` updated with
   the request's; the ``"timeout"`` extension = ``httpx.Timeout(...).as_dict()``; no cookies for a
   jar that is empty (:func:`own_request`).
3. That ``httpx.URL`` and ``httpx.Headers`` given to ``httpx.Request`` are not changed by it, so a
   parsed URL and a merged header set can serve many requests (:func:`parsed_url`,
   :func:`merged_headers`).
4. What ``Client.send`` adds around ``transport.handle_request``: it sets ``response.request``
   (done here too) and ``response.elapsed``, the cookie jar and the event hooks (not done: unused);
   it writes the ``HTTP Request: ...`` INFO log line (written here at DEBUG, on
   ``hfbridge.transport``) (:func:`send_request`).
5. ``Client._build_redirect_request`` and its helpers (``_redirect_method``, ``_redirect_url``,
   ``_redirect_headers``, ``_redirect_stream``): a redirect answer is followed through
   ``client.send`` from the next request, built by :func:`redirected` by the same rules.
6. ``Response.has_redirect_location``: which answers are redirects.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from hfbridge._redact import redact_url
from hfbridge.transport.config import connect_timeout

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx

logger = logging.getLogger("hfbridge.transport")

# --- hfbridge's own clients (internal 1) ---------------------------------------------------------

@functools.cache
def _no_cookies_class() -> type[httpx.Cookies]:
    # Made on first use: a subclass of an httpx class would import httpx with this module.
    class NoCookies(httpx.Cookies):
        """A cookie jar that keeps nothing.

        hfbridge authenticates with tokens, never cookies, and one pool serves clients with
        different tokens, so a cookie kept from one answer must not ride along on another
        client's request. Skipping httpx's cookie parsing of every answer also saves about a
        sixth of a request's client time (BENCHMARKS.md).
        """

        def extract_cookies(self, response: httpx.Response) -> None:
            """Keep nothing from ``response``."""

    return NoCookies


_Client = TypeVar("_Client", bound="httpx.Client | httpx.AsyncClient")
_own_clients: weakref.WeakSet[httpx.Client | httpx.AsyncClient] = weakref.WeakSet()
_direct_transports: weakref.WeakKeyDictionary[
    httpx.Client | httpx.AsyncClient, httpx.BaseTransport | httpx.AsyncBaseTransport
] = weakref.WeakKeyDictionary()


def without_cookies(
    client: _Client,
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
) -> _Client:
    """Mark ``client`` as hfbridge's own (requests to ``transport`` directly, when given)."""
    # httpx has no public switch: its ``cookies`` setter copies any jar into a plain one.
    client._cookies = _no_cookies_class()()  # noqa: SLF001
    _own_clients.add(client)
    if transport is not None:
        _direct_transports[client] = transport
    return client


def is_own_client(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Whether hfbridge built ``client`` (httpx's default headers, no cookies, no base URL).

    Requests for such a client can be built without httpx's per-request merging of client
    settings (:func:`own_request`); an injected client keeps it.
    """
    return client in _own_clients


def direct_transport(
    client: httpx.Client | httpx.AsyncClient,
) -> httpx.BaseTransport | httpx.AsyncBaseTransport | None:
    """The transport requests of hfbridge's own ``client`` may be handed to directly, if any.

    Not when a proxy is set in the environment: httpx then routes by URL (``NO_PROXY``).
    """
    return _direct_transports.get(client)


# --- building a request (internals 2 and 3) ------------------------------------------------------


@lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """``url`` as an ``httpx.URL``, parsed once per distinct URL.

    Parsing costs httpx more than the rest of building a request (see BENCHMARKS.md), and
    ``httpx.URL`` is immutable, so one object serves every call.
    """
    return httpx.URL(url)


@lru_cache(maxsize=64)
def timeout_extension(read: float) -> tuple[tuple[str, float | None], ...]:
    """The ``"timeout"`` extension ``build_request`` would set for read timeout ``read``."""
    return tuple(httpx.Timeout(read, connect=connect_timeout(read)).as_dict().items())


_HEADER_CACHE_SIZE = 256
_merged_headers: dict[int, tuple[Mapping[str, str], httpx.Headers]] = {}


def merged_headers(
    client: httpx.Client | httpx.AsyncClient, headers: Mapping[str, str]
) -> httpx.Headers:
    """``client``'s headers updated with ``headers``, merged once per headers dict.

    The dicts come from :meth:`ClientConfig.headers_for`, one per config and host kind, and are
    never changed; an entry keeps its dict alive, so its id cannot be reused by another.
    """
    entry = _merged_headers.get(id(headers))
    if entry is None or entry[0] is not headers:
        if len(_merged_headers) >= _HEADER_CACHE_SIZE:
            _merged_headers.clear()
        merged = httpx.Headers(client.headers)
        merged.update(headers)
        entry = _merged_headers[id(headers)] = (headers, merged)
    return entry[1]


def own_request(  # noqa: PLR0913 - the parts of one request
    client: httpx.Client | httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    *,
    content: bytes | None,
    headers: Mapping[str, str],
    extra: bool,
    read_timeout: float,
) -> httpx.Request:
    """What ``client.build_request`` builds for hfbridge's own ``client``, for half its cost.

    ``extra`` says ``headers`` carries per-call headers (merged afresh, never cached).
    """
    if extra:
        merged = httpx.Headers(client.headers)
        merged.update(headers)
    else:
        merged = merged_headers(client, headers)
    return httpx.Request(
        method,
        target,
        content=content,
        headers=merged,
        extensions={"timeout": dict(timeout_extension(read_timeout))},
    )


# --- sending (internals 4, 5 and 6) --------------------------------------------------------------


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
