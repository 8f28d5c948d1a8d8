"""Fault 12: provider failover on the router path.

The fault server plays both the router's catalogue (``/v1/models/org/m``: two live providers that
call tools, ``provA`` ranked first) and the router itself (``/v1/chat/completions``), answering
500 to every attempt for ``org/m:provA`` and serving ``org/m:provB``. ChatService gets its client
injected and no ``base_url``, so it routes (``custom_endpoint`` is false) through a catalog built
over the same server.
"""

from __future__ import annotations

import asyncio

import pytest
from faultserver import SSE, chat_body, chat_chunks, json_reply
from support import CHAT_PATH, MESSAGES, fast_config

from hfbridge.catalog import Catalog
from hfbridge.errors import HFServerError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def provider(name: str, throughput: float) -> dict:
    return {
        "provider": name, "status": "live", "context_length": 32768,
        "pricing": {"input": 0.1, "output": 0.2}, "supports_tools": True,
        "supports_structured_output": True, "throughput": throughput,
    }  # fmt: skip


CATALOG_BODY = {
    "id": "org/m",
    "object": "model",
    "providers": [provider("provA", 900.0), provider("provB", 100.0)],
}


def router(fault_server, *, failing=("org/m:provA",)):
    def answer(request):
        body = request.json() or {}
        model = body.get("model")
        if model in failing:
            return json_reply(500, {"error": f"{model} is down"}, fault="500-provider")
        if body.get("stream"):
            return SSE(chat_chunks("served ", "by B", model=model))
        return json_reply(200, chat_body("served by B", model=model), x_inference_provider="provB")

    fault_server.route(CHAT_PATH, answer)
    fault_server.route("/v1/models/org/m", lambda _: json_reply(200, CATALOG_BODY))


def routed_service(fault_server) -> ChatService:
    config = fast_config(fault_server.url + "/v1")
    client, async_client = HFClient(config), AsyncHFClient(config)
    catalog = Catalog(
        client, async_client, router_url=fault_server.url + "/v1", cache_dir=False
    )
    service = ChatService(model="org/m", client=client, async_client=async_client, catalog=catalog)
    assert not service.custom_endpoint  # the router path: routing and failover are active
    return service


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

    assert result.provider == "provB"
    assert result.model == "org/m:provB"
    assert result.completion.first.content == "served by B"
    assert "chose 'provA'" in result.route
    assert "fallbacks: provB" in result.route
    attempts = service.client.config.retry.max_retries + 1
    assert models_sent(fault_server) == ["org/m:provA"] * attempts + ["org/m:provB"]
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
    assert stream.result().provider == "provB"
    assert models_sent(fault_server)[-1] == "org/m:provB"
    assert models_sent(fault_server).count("org/m:provA") == 4


def test_every_provider_failing_raises_the_last_error(fault_server):
    router(fault_server, failing=("org/m:provA", "org/m:provB"))
    service = routed_service(fault_server)

    with pytest.raises(HFServerError) as caught:
        service.complete(MESSAGES, {"tools": TOOLS})

    assert caught.value.provider == "provB"
    assert "org/m:provB is down" in str(caught.value)
    assert models_sent(fault_server) == ["org/m:provA"] * 4 + ["org/m:provB"] * 4
