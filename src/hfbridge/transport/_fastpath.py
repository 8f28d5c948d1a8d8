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
   and ``response.elapsed``, the cookie jar and the event hooks; the sending side
   (:mod:`hfbridge.transport._send`, which adds hfbridge's deadlines, body caps, resends and
   redirect rules) sets ``response.request`` only, and writes httpx's ``HTTP Request: ...`` INFO
   line at DEBUG on ``hfbridge.transport``.
5. ``Client._build_redirect_request`` and its helpers (``_redirect_method``, ``_redirect_url``,
   ``_redirect_headers``, ``_redirect_stream``): ``_send.redirected`` follows the same rules.
6. ``Response.has_redirect_location``: which answers are redirects (read by ``_send``).
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

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
