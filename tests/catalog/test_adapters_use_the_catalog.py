"""The catalog at work in the services and adapters: tools refused or rerouted, failover, cost."""

import json

import httpx
import pytest

from hfbridge.errors import HFCapabilityError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient

TOOLS = [
    {
        "type": "function",
        "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
    }
]
USER = [{"role": "user", "content": "weather in Paris?"}]
COMPLETION = {
    "id": "c1", "object": "chat.completion", "model": "x",
    "usage": {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500},
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "t1", "type": "function",
                        "function": {"name": "weather", "arguments": "{}"}}]}}],
}  # fmt: skip


class Router:
    """The catalog fake plus a chat route that can fail for chosen providers."""

    def __init__(self, fake, failing=()):
        self.fake = fake
        self.failing = set(failing)
        self.chat_models = []

    def __call__(self, request):
        if request.url.path == "/v1/chat/completions":
            model = json.loads(request.content)["model"]
            self.chat_models.append(model)
            if model.rpartition(":")[2] in self.failing:
                return httpx.Response(503, json={"error": "provider overloaded"})
            return httpx.Response(200, json=COMPLETION)
        return self.fake(request)


@pytest.fixture
def router(fake):
    return Router(fake)


@pytest.fixture
def clients(router):
    transport = httpx.MockTransport(router)
    return {
        "client": HFClient(transport=transport, max_retries=0, token="hf_test"),
        "async_client": AsyncHFClient(transport=transport, max_retries=0, token="hf_test"),
    }


def test_tools_reroute_to_a_capable_provider_and_report_it(router, clients, catalog):
    service = ChatService(model="meta-llama/Llama-3.1-8B-Instruct", catalog=catalog, **clients)
    result = service.complete(USER, {"tools": TOOLS})
    assert router.chat_models == ["meta-llama/Llama-3.1-8B-Instruct:cerebras"]
    assert (result.provider, result.model) == (
        "cerebras",
        "meta-llama/Llama-3.1-8B-Instruct:cerebras",
    )
    assert "tool calling" in result.route
    assert result.cost_usd == pytest.approx(1_000 * 0.1 / 1e6 + 500 * 0.1 / 1e6)


def test_without_tools_the_spec_goes_as_configured(router, clients, catalog):
    service = ChatService(
        model="meta-llama/Llama-3.1-8B-Instruct:cheapest", catalog=catalog, **clients
    )
    service.complete(USER, {})
    assert router.chat_models == ["meta-llama/Llama-3.1-8B-Instruct:cheapest"]


def test_a_pinned_provider_without_tools_is_refused_before_any_chat_request(
    router, clients, catalog
):
    service = ChatService(
        model="meta-llama/Llama-3.1-8B-Instruct:novita", catalog=catalog, **clients
    )
    with pytest.raises(HFCapabilityError, match="providers that do: cerebras, nscale"):
        service.complete(USER, {"tools": TOOLS})
    with pytest.raises(HFCapabilityError):
        service.check_tools_supported()
    assert router.chat_models == []
    assert service.supports_tools() is False


def test_failover_to_the_next_capable_provider(router, clients, catalog):
    router.failing = {"cerebras"}
    service = ChatService(model="meta-llama/Llama-3.1-8B-Instruct", catalog=catalog, **clients)
    result = service.complete(USER, {"tools": TOOLS})
    assert router.chat_models == [
        "meta-llama/Llama-3.1-8B-Instruct:cerebras", "meta-llama/Llama-3.1-8B-Instruct:nscale",
    ]  # fmt: skip
    assert result.provider == "nscale"
    assert result.cost_usd == pytest.approx(1_000 * 0.03 / 1e6 + 500 * 0.09 / 1e6)


async def test_async_reroute(router, clients, catalog):
    service = ChatService(model="openai/gpt-oss-120b:cheapest", catalog=catalog, **clients)
    result = await service.acomplete(USER, {"tools": TOOLS})
    assert router.chat_models == ["openai/gpt-oss-120b:nscale"]
    assert result.provider == "nscale"


def test_langchain_bind_tools_refuses_a_provider_without_tools(router, catalog):
    from hfbridge.langchain import ChatHF

    def weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    settings = {"transport": httpx.MockTransport(router), "catalog": catalog, "token": "hf_test",
                "max_retries": 0}  # fmt: skip
    llm = ChatHF(model="meta-llama/Llama-3.1-8B-Instruct:novita", **settings)
    with pytest.raises(HFCapabilityError, match="provider 'novita' does not support tool calling"):
        llm.bind_tools([weather])
    assert router.chat_models == []
    rerouted = ChatHF(model="meta-llama/Llama-3.1-8B-Instruct", **settings)
    message = rerouted.bind_tools([weather]).invoke("weather?")
    assert router.chat_models == ["meta-llama/Llama-3.1-8B-Instruct:cerebras"]
    assert message.tool_calls[0]["name"] == "weather"


def test_llama_index_metadata_comes_from_the_catalog(clients, catalog):
    from hfbridge.llama_index import HFLLM

    agent = HFLLM(model="openai/gpt-oss-120b", catalog=catalog, **clients)
    assert agent.metadata.is_function_calling_model is True
    assert agent.metadata.context_window == 131072
    plain = HFLLM(model="google/gemma-2-2b-it", catalog=catalog, **clients)
    assert plain.metadata.is_function_calling_model is False
    assert plain.metadata.context_window == 8192
