"""Fault 12: provider failover on the router path.

The fault server plays both the router's catalogue (``/v1/models/org/m``: two live providers that
call tools, ``prova`` ranked first) and the router itself (``/v1/chat/completions``), answering
500 to every attempt for ``org/m:prova`` and serving ``org/m:provb``. ChatService gets its client
injected and no ``base_url``, so it routes (``custom_endpoint`` is false) through a catalog built
over the same server.
"""

from __future__ import annotations

import asyncio

import pytest
from support import CHAT_PATH, MESSAGES, TOOLS, routed_service, router

from hfbridge.errors import HFServerError


def models_sent(fault_server) -> list[str]:
    return [request.json()["model"] for request in fault_server.requests_to(CHAT_PATH)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failover_to_the_second_provider_after_the_first_fails_past_its_budget(
    fault_server, caplog, mode
):
    router(fault_server)
    service = routed_service(fault_server)
    params = {"tools": TOOLS}

    with caplog.at_level("WARNING", logger="hfbridge.inference"):
        if mode == "sync":
            result = service.complete(MESSAGES, params)
        else:
            result = asyncio.run(service.acomplete(MESSAGES, params))

    assert result.provider == "provb"
    assert result.model == "org/m:provb"
    assert result.completion.first.content == "served by B"
    assert "chose 'prova'" in result.route
    assert "fallbacks: provb" in result.route
    attempts = service.client.config.retry.max_retries + 1
    assert models_sent(fault_server) == ["org/m:prova"] * attempts + ["org/m:provb"]
    assert fault_server.faults["500-provider"] == attempts
    assert any("failing over" in record.getMessage() for record in caplog.records)
    # The catalog price gives a cost estimate for the provider that served.
    assert result.cost_usd == pytest.approx((3 * 0.1 + 2 * 0.2) / 1_000_000)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_fails_over_before_its_first_event(fault_server, mode):
    router(fault_server)
    service = routed_service(fault_server)
    params = {"tools": TOOLS}

    if mode == "stream":
        stream = service.stream(MESSAGES, params)
        text = "".join(delta.content for delta in stream)
    else:
        stream = service.astream(MESSAGES, params)

        async def collect():
            return "".join([delta.content async for delta in stream])

        text = asyncio.run(collect())

    assert text == "served by B"
    assert stream.result().provider == "provb"
    assert models_sent(fault_server)[-1] == "org/m:provb"
    assert models_sent(fault_server).count("org/m:prova") == 4


def test_every_provider_failing_raises_the_last_error(fault_server):
    router(fault_server, failing=("org/m:prova", "org/m:provb"))
    service = routed_service(fault_server)

    with pytest.raises(HFServerError) as caught:
        service.complete(MESSAGES, {"tools": TOOLS})

    assert caught.value.provider == "provb"
    assert "org/m:provb is down" in str(caught.value)
    assert models_sent(fault_server) == ["org/m:prova"] * 4 + ["org/m:provb"] * 4
