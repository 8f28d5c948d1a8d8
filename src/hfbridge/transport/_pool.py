"""Connection pools shared by every client with the same TLS settings.

Headers, tokens and timeouts travel with each request, so one pool serves every adapter instance.
The sync pool lives for the process. An async pool belongs to one event loop (aiohttp sessions are
bound to their loop), so there is one per running loop, and it is closed when that loop shuts down:
an async generator registered with the loop is finalised by ``loop.shutdown_asyncgens()``, which
``asyncio.run`` and ``asyncio.Runner`` call, and its ``finally`` closes the pool inside the loop.
Nothing closes a shared pool while its loop is still running, so a running agent never loses it.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import threading
import urllib.request
import weakref
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from hfbridge._constants import KEEPALIVE_EXPIRY, MAX_CONNECTIONS, MAX_KEEPALIVE_CONNECTIONS
from hfbridge.transport._fastpath import without_cookies
from hfbridge.transport._logs import install_redacting_filter

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx


@functools.cache
def limits() -> httpx.Limits:
    """The pools' connection limits (built on first use, with httpx)."""
    return httpx.Limits(
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )


install_redacting_filter()  # every request goes through this module's clients

_lock = threading.Lock()
_sync_pools: dict[bool | str, httpx.Client] = {}
_AsyncEntry = tuple["httpx.AsyncClient", AsyncGenerator[None, None]]
_async_pools: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[bool | str, _AsyncEntry]
] = weakref.WeakKeyDictionary()


def environment_proxies() -> bool:
    """Whether ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` (any case) is set.

    httpx honours them (and ``NO_PROXY``) only on its own transports: a client given a transport
    ignores the environment. The aiohttp transport is therefore used only without a proxy.
    """
    return any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))


def new_sync_client(
    verify: bool | str, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """A fresh ``httpx.Client`` configured as hfbridge expects (redirects followed, pooled)."""
    if transport is None and not environment_proxies():
        # What httpx.Client builds by default, made here so that requests can go to it directly.
        transport = httpx.HTTPTransport(verify=verify, limits=limits(), trust_env=True)
    client = httpx.Client(
        transport=transport, verify=verify, limits=limits(), follow_redirects=True, trust_env=True
    )
    from hfbridge.transport._network import install  # noqa: PLC0415 - imports httpcore: on first use

    install(client)  # deadlines and reuse tracking under httpcore's pools
    return without_cookies(client, transport)


def new_async_client(
    verify: bool | str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A fresh ``httpx.AsyncClient`` over the aiohttp transport unless one is given.

    With a proxy configured in the environment, httpx's own transport (which honours it).
    """
    if transport is None and not environment_proxies():
        # aiohttp takes ~150 ms to import, so only async use pays for it (llama_index.core does not
        # import it: BENCHMARKS.md, figure 6).
        from hfbridge.transport._aiohttp import AiohttpTransport  # noqa: PLC0415

        transport = AiohttpTransport(verify=verify, limits=limits())
    client = httpx.AsyncClient(
        transport=transport, verify=verify, follow_redirects=True, trust_env=True
    )
    return without_cookies(client, transport)


def shared_sync_client(verify: bool | str) -> httpx.Client:
    """The process-wide sync pool for these TLS settings."""
    client = _sync_pools.get(verify)
    if client is None:
        with _lock:
            client = _sync_pools.get(verify)
            if client is None:
                client = _sync_pools[verify] = new_sync_client(verify)
    return client


async def _closer(
    client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, verify: bool | str
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        # Forget the entry too: this generator refers to its loop (its finaliser is a loop method),
        # so an entry left in the weak-keyed table would keep every finished loop alive.
        pools = _async_pools.get(loop, {})
        if verify in pools and pools[verify][0] is client:
            del pools[verify]
        await client.aclose()


async def shared_async_client(verify: bool | str) -> httpx.AsyncClient:
    """The running loop's async pool for these TLS settings (created on first use)."""
    loop = asyncio.get_running_loop()
    pools = _async_pools.get(loop)
    if pools is None:
        pools = _async_pools[loop] = {}
    entry = pools.get(verify)
    if entry is None or entry[0].is_closed:
        client = new_async_client(verify)
        closer = _closer(client, loop, verify)
        await closer.asend(None)  # started: the loop now finalises it at shutdown
        pools[verify] = entry = (client, closer)
    return entry[0]


@atexit.register
def _close_sync_pools() -> None:
    with _lock:
        for client in _sync_pools.values():
            client.close()
        _sync_pools.clear()
