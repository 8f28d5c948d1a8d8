"""Images go only to models (and servers) that take them; HFCapabilityError before any chat call.

The router's facts: the recorded catalogue (``architecture.input_modalities``; Llama-4-Scout is its
one vision model). A self-hosted server's facts: llama-server's recorded ``/props``
(``modalities.vision: false``: no projector loaded). No package on the registries ships a small
vision model llama-server could serve (see /work/notes/responses.md), so images are proven here on
the recordings and the catalogue, not end to end.
"""

import asyncio
import json

import httpx
import pytest
from tests.recorded_servers import FIXTURES, routed_service, router_catalogue

from hfbridge.catalog.aliases import resolve_model
from hfbridge.errors import HFCapabilityError
from hfbridge.inference import server_facts
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.chat import has_image_parts

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
BASE = "http://127.0.0.1:9/v1"
IMAGE = [{"role": "user", "content": [
    {"type": "text", "text": "What is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
]}]  # fmt: skip
TEXT = [{"role": "user", "content": "hi"}]
ANSWER = {"id": "x", "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "a cat"}, "finish_reason": "stop"}]}  # fmt: skip


class Router:
    def __init__(self):
        self.posts = []

    def __call__(self, request):
        if request.method == "GET":
            return router_catalogue(request)
        self.posts.append(json.loads(request.content))
        return httpx.Response(200, json=ANSWER)


def routed(model, server):
    return routed_service(model, server)


def test_image_parts_are_recognised_in_both_shapes():
    assert has_image_parts(IMAGE)
    assert not has_image_parts(TEXT)
    assert has_image_parts([{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}])


def test_the_vision_alias_names_the_catalogues_vision_model():
    assert resolve_model("vision", kind="chat").model_id == SCOUT


def test_an_image_for_a_text_only_router_model_fails_before_any_chat_request():
    server = Router()
    service = routed("meta-llama/Llama-3.1-8B-Instruct", server)
    with pytest.raises(HFCapabilityError, match="vision") as info:
        service.complete(IMAGE, {})
    assert info.value.capability == "image input"
    with pytest.raises(HFCapabilityError):
        list(service.stream(IMAGE, {}))
    with pytest.raises(HFCapabilityError):
        asyncio.run(service.acomplete(IMAGE, {}))
    assert server.posts == []
    service.complete(TEXT, {})  # text still goes
    assert len(server.posts) == 1


def test_an_image_for_the_vision_model_is_sent():
    server = Router()
    result = routed("vision", server).complete(IMAGE, {})
    assert result.completion.first.content == "a cat"
    assert server.posts[0]["messages"][0]["content"][1]["type"] == "image_url"


class LlamaCpp:
    def __init__(self, props="llamacpp_props.json"):
        self.props, self.posts, self.gets = props, [], []

    def __call__(self, request):
        if request.method == "GET":
            self.gets.append(request.url.path)
            if request.url.path == "/props" and self.props:
                return httpx.Response(200, content=(FIXTURES / "server_info" / self.props).read_bytes())
            return httpx.Response(404, json={"error": "not found"})
        self.posts.append(request)
        return httpx.Response(200, json=ANSWER)


def local(server):
    server_facts.forget()
    transport = httpx.MockTransport(server)
    client = HFClient(base_url=BASE, max_retries=0, transport=transport)
    async_client = AsyncHFClient(base_url=BASE, max_retries=0, transport=transport)
    return ChatService(model="qwen", base_url=BASE, client=client, async_client=async_client)


def test_an_image_for_a_server_without_vision_fails_before_the_chat_request():
    server = LlamaCpp()
    service = local(server)
    with pytest.raises(HFCapabilityError, match="no vision projector"):
        service.complete(IMAGE, {})
    with pytest.raises(HFCapabilityError):
        asyncio.run(service.acomplete(IMAGE, {}))

    async def astream():
        return [delta async for delta in service.astream(IMAGE, {})]

    with pytest.raises(HFCapabilityError):
        asyncio.run(astream())
    assert server.posts == []  # the recorded alternative: HTTP 500, retried, failed over
    server_facts.forget()


def test_a_server_that_says_nothing_decides_itself_and_text_asks_nothing():
    server = LlamaCpp(props=None)
    service = local(server)
    service.complete(TEXT, {})
    assert "/props" not in server.gets  # no image: nothing to ask
    service.complete(IMAGE, {})
    assert len(server.posts) == 2
    server_facts.forget()
