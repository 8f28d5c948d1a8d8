"""ChatService on the router: capability routing, refusal before any request, failover, cost."""

import json
from pathlib import Path

import httpx
import pytest

from hfbridge.catalog import Catalog
from hfbridge.errors import HFCapabilityError, HFServerError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient

ROUTER_MODELS = json.loads((Path(__file__).parents[1] / "fixtures/catalog/router_models.json").read_text())
USER = [{"role": "user", "content": "weather in Paris?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def answer(model):
    return {"id": "x", "model": model, "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000},
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def catalogue(request):
    """Answer the router's /v1/models and /v1/models/{id} from the recorded catalogue."""
    if request.url.path == "/v1/models":
        return httpx.Response(200, json=ROUTER_MODELS)
    model_id = request.url.path.removeprefix("/v1/models/")
    match = [m for m in ROUTER_MODELS["data"] if m.get("id") == model_id]
    return httpx.Response(200, json=match[0]) if match else httpx.Response(404, json={"error": "not found"})


class Router:
    """A MockTransport router: /v1/models from the recorded catalogue, chat by a per-model plan."""

    def __init__(self, failing=()):
        self.failing = set(failing)
        self.chat_models = []

    def __call__(self, request):
        if request.method == "GET":
            return catalogue(request)
        body = json.loads(request.content)
        self.chat_models.append(body["model"])
        if body["model"] in self.failing:
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json=answer(body["model"]))


def make(model, router):
    transport = httpx.MockTransport(router)
    client = HFClient(token="hf_testtoken123456", max_retries=0, transport=transport)
    async_client = AsyncHFClient(token="hf_testtoken123456", max_retries=0, transport=transport)
    catalog = Catalog(client, async_client, cache_dir=False)
    return ChatService(model=model, client=client, async_client=async_client, catalog=catalog)


def test_plain_calls_pass_the_spec_through_untouched():
    router = Router()
    result = make("meta-llama/Llama-3.1-8B-Instruct:cheapest", router).complete(USER, {})
    assert router.chat_models == ["meta-llama/Llama-3.1-8B-Instruct:cheapest"]
    assert result.provider is None


def test_tools_route_to_the_fastest_live_provider_with_tools():
    router = Router()
    result = make("meta-llama/Llama-3.1-8B-Instruct", router).complete(USER, {"tools": TOOLS})
    # cerebras is live, supports tools and has the highest throughput in the recorded catalogue
    assert router.chat_models == ["meta-llama/Llama-3.1-8B-Instruct:cerebras"]
    assert result.provider == "cerebras"
    cerebras = next(p for m in ROUTER_MODELS["data"] if m.get("id") == "meta-llama/Llama-3.1-8B-Instruct"
                    for p in m["providers"] if p["provider"] == "cerebras")
    # one million tokens each way: the cost is the sum of the two per-million prices
    assert result.cost_usd == pytest.approx(cerebras["pricing"]["input"] + cerebras["pricing"]["output"])


def test_a_pinned_provider_without_tools_is_refused_before_any_request():
    router = Router()
    service = make("meta-llama/Llama-3.1-8B-Instruct:novita", router)
    with pytest.raises(HFCapabilityError, match="cerebras") as caught:
        service.check_tools_supported()
    assert "novita" in str(caught.value)
    with pytest.raises(HFCapabilityError):
        service.complete(USER, {"tools": TOOLS})
    assert router.chat_models == []


def test_failover_to_the_next_capable_provider_names_who_served():
    router = Router(failing={"meta-llama/Llama-3.1-8B-Instruct:cerebras"})
    result = make("meta-llama/Llama-3.1-8B-Instruct", router).complete(USER, {"tools": TOOLS})
    assert router.chat_models[0] == "meta-llama/Llama-3.1-8B-Instruct:cerebras"
    assert len(router.chat_models) == 2
    assert result.provider == router.chat_models[1].split(":")[1] != "cerebras"


def test_failover_happens_for_streams_before_the_first_event(caplog):
    router = Router(failing={"meta-llama/Llama-3.1-8B-Instruct:cerebras"})

    def handler(request):
        if request.method == "GET":
            return catalogue(request)
        body = json.loads(request.content)
        router.chat_models.append(body["model"])
        if body["model"] in router.failing:
            return httpx.Response(503, json={"error": "overloaded"})
        events = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events)

    service = make("meta-llama/Llama-3.1-8B-Instruct", handler)
    stream = service.stream(USER, {"tools": TOOLS})
    assert "".join(d.content for d in stream) == "ok"
    assert stream.result().provider == router.chat_models[-1].split(":")[1]
    assert len(router.chat_models) == 2
    # streams report a failover exactly as calls do
    assert [r.getMessage() for r in caplog.records if "failing over" in r.getMessage()] == [
        "hfbridge: meta-llama/Llama-3.1-8B-Instruct:cerebras failed (HFServerError); failing over"
    ]


def test_when_every_candidate_fails_the_last_error_is_raised():
    failing = {f"meta-llama/Llama-3.1-8B-Instruct:{p}" for p in ("cerebras", "nscale", "sambanova", "novita")}
    router = Router(failing=failing)
    with pytest.raises(HFServerError):
        make("meta-llama/Llama-3.1-8B-Instruct", router).complete(USER, {"tools": TOOLS})
    assert 1 < len(router.chat_models) <= 3


async def test_async_routing_matches_sync():
    router = Router()
    result = await make("meta-llama/Llama-3.1-8B-Instruct", router).acomplete(USER, {"tools": TOOLS})
    assert result.provider == "cerebras"


def test_capability_helpers_read_the_catalog():
    service = make("meta-llama/Llama-3.1-8B-Instruct:novita", Router())
    assert service.supports_tools() is False
    assert service.structured_output_method() == "function_calling"
    assert make("meta-llama/Llama-3.3-70B-Instruct:together", Router()).structured_output_method() == "json_schema"
