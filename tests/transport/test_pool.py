"""Shared connection pools: one per process (sync), one per event loop (async), closed with it.

No request is sent here (sockets are disabled): these tests look at which client object a client
uses, and at its state when its loop ends.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import httpx
from tests.transport.conftest import reply

from hfbridge.transport import AsyncHFClient, HFClient


def test_sync_clients_share_one_pool():
    first, second = HFClient(), HFClient(token="hf_pooltestpooltest", base_url="http://127.0.0.1:1")
    assert isinstance(first.http, httpx.Client)
    assert first.http is second.http
    assert HFClient(verify=False).http is not first.http


def test_an_injected_transport_gets_a_private_client_closed_with_it():
    client = HFClient(transport=httpx.MockTransport(reply(200)))
    assert client.http is not HFClient().http
    client.close()
    assert client.http.is_closed
    assert not HFClient().http.is_closed  # the shared pool is never closed by a client


def test_an_injected_http_client_is_used_and_never_closed():
    own = httpx.Client(transport=httpx.MockTransport(reply(200)))
    with HFClient(http_client=own) as client:
        assert client.http is own
    assert not own.is_closed
    own.close()


def test_each_event_loop_gets_its_own_pool_closed_at_loop_shutdown():
    seen: list[httpx.AsyncClient] = []

    async def use() -> None:
        http = await AsyncHFClient().http()
        assert http is await AsyncHFClient(token="hf_pooltestpooltest").http()  # shared in a loop
        assert http is not await AsyncHFClient(verify=False).http()  # keyed by TLS settings
        await asyncio.sleep(0)
        gc.collect()
        assert not http.is_closed  # nothing closes it while its loop runs
        seen.append(http)

    asyncio.run(use())
    asyncio.run(use())
    first, second = seen
    assert first is not second
    assert first.is_closed
    assert second.is_closed


def test_the_same_client_instance_works_across_loops():
    client = AsyncHFClient()
    pools = [asyncio.run(client.http()) for _ in range(2)]
    assert pools[0] is not pools[1]
    assert all(pool.is_closed for pool in pools)


def test_a_finished_loop_is_not_kept_alive_by_its_pool():
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def use() -> None:
        await AsyncHFClient().http()
        loops.append(weakref.ref(asyncio.get_running_loop()))

    for _ in range(3):
        asyncio.run(use())
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]


async def test_within_a_running_test_loop_the_pool_stays_open():
    first = await AsyncHFClient().http()
    await asyncio.sleep(0)
    assert await AsyncHFClient().http() is first
    assert not first.is_closed
