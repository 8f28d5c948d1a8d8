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
import threading
import weakref
from collections.abc import AsyncGenerator

import httpx

from hfbridge._constants import KEEPALIVE_EXPIRY, MAX_CONNECTIONS, MAX_KEEPALIVE_CONNECTIONS
from hfbridge.transport._aiohttp import AiohttpTransport

LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS,
    max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
    keepalive_expiry=KEEPALIVE_EXPIRY,
)

_lock = threading.Lock()
_sync_pools: dict[bool | str, httpx.Client] = {}
_async_pools: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[bool | str, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]]
] = weakref.WeakKeyDictionary()


def new_sync_client(verify: bool | str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A fresh ``httpx.Client`` configured as hfbridge expects (redirects followed, pooled)."""
    return httpx.Client(
        transport=transport, verify=verify, limits=LIMITS, follow_redirects=True, trust_env=True
    )


def new_async_client(
    verify: bool | str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A fresh ``httpx.AsyncClient`` over the aiohttp transport unless one is given."""
    return httpx.AsyncClient(
        transport=transport or AiohttpTransport(verify=verify, limits=LIMITS),
        verify=verify,
        follow_redirects=True,
        trust_env=True,
    )


def shared_sync_client(verify: bool | str) -> httpx.Client:
    """The process-wide sync pool for these TLS settings."""
    client = _sync_pools.get(verify)
    if client is None:
        with _lock:
            client = _sync_pools.get(verify)
            if client is None:
                client = _sync_pools[verify] = new_sync_client(verify)
    return client


async def _closer(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
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
        closer = _closer(client)
        await closer.asend(None)  # started: the loop now finalises it at shutdown
        pools[verify] = entry = (client, closer)
    return entry[0]


@atexit.register
def _close_sync_pools() -> None:
    with _lock:
        for client in _sync_pools.values():
            client.close()
        _sync_pools.clear()
