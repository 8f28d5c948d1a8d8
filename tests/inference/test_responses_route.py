"""ChatService with use_responses_api=True: the Responses route on the seam, on the recordings.

The answers are the recorded bodies of llama-server and of the router's implementation
(responses.js), served by httpx.MockTransport (``tests/fixtures/responses/README.md``).
"""

import asyncio
import json

import httpx
import pytest
from tests.recorded_servers import RECORDED, routed_service, router_catalogue

from hfbridge.errors import (
    HFConfigError,
    HFNotFoundError,
    HFResponseError,
    HFStreamError,
)
from hfbridge.inference.chat import ChatService
from hfbridge.inference.routes import get_route
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.responses import RESPONSES
from hfbridge.wire.responses_result import response_details

USER = [{"role": "user", "content": "weather in Paris?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]  # fmt: skip
BASE = "http://127.0.0.1:9/v1"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def recorded(name):
    return (RECORDED / name).read_bytes()


def answer(name, request_path="/v1/responses"):
    """A MockTransport handler answering every POST with the recording ``name``."""
    seen = []

    def handler(request):
        seen.append(request)
        assert request.url.path == request_path
        if name.endswith(".sse"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=recorded(name)
            )
        return httpx.Response(200, content=recorded(name), headers={"content-type": "application/json"})

    handler.seen = seen
    return handler


def local(handler, **kwargs):
    transport = httpx.MockTransport(handler)
    client = HFClient(base_url=BASE, max_retries=0, transport=transport)
    async_client = AsyncHFClient(base_url=BASE, max_retries=0, transport=transport)
    return ChatService(
        model="qwen", base_url=BASE, client=client, async_client=async_client,
        use_responses_api=True, **kwargs,
    )  # fmt: skip


def test_the_route_is_registered_on_the_seam():
    assert get_route("responses") is RESPONSES
    assert RESPONSES.streams


def test_a_text_call_goes_to_responses_and_reads_as_a_completion():
    handler = answer("llamacpp_text.json")
    result = local(handler).complete(USER, {"max_tokens": 8})
    body = json.loads(handler.seen[0].content)
    assert body["input"] == [{"type": "message", "role": "user", "content": "weather in Paris?"}]
    assert body["max_output_tokens"] == 8
    assert "messages" not in body
    expected = json.loads(recorded("llamacpp_text.json"))["output"][0]["content"][0]["text"]
    assert result.completion.first.content == expected
    assert result.completion.usage is not None
    assert result.completion.usage.prompt_tokens > 0


def test_stream_deltas_join_to_the_result_sync_and_async():
    service = local(answer("llamacpp_text_stream.sse"))
    stream = service.stream(USER, {})
    text = "".join(delta.content for delta in stream)
    assert text == stream.result().completion.first.content != ""
    assert stream.accumulator.content(0)[0] == text

    async def run():
        astream = service.astream(USER, {})
        parts = [delta.content async for delta in astream]
        return "".join(parts), astream.result()

    atext, result = asyncio.run(run())
    assert atext == text == result.completion.first.content


def test_a_tool_call_is_read_with_its_call_id():
    result = local(answer("llamacpp_tool_call.json")).complete(USER, {"tools": TOOLS})
    (call,) = result.completion.first.tool_calls
    item = next(i for i in json.loads(recorded("llamacpp_tool_call.json"))["output"]
                if i["type"] == "function_call")  # fmt: skip
    assert call.id == item["call_id"]
    assert call.name == item["name"]


def test_structured_output_is_mirrored_for_a_self_hosted_server_only():
    schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
    handler = answer("llamacpp_structured_mirrored.json")
    local(handler).complete(USER, {"response_format": schema})
    body = json.loads(handler.seen[0].content)
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["response_format"]["type"] == "json_schema"  # llama.cpp reads only this one

    router = RouterResponses()
    make_router(router).complete(USER, {"response_format": schema})
    assert "response_format" not in router.bodies[0]
    assert router.bodies[0]["text"]["format"]["type"] == "json_schema"


def test_chat_only_parameters_fail_before_any_request():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    with pytest.raises(HFConfigError, match="seed"):
        local(refuse).complete(USER, {"seed": 1})


def test_a_server_without_responses_says_how_to_switch_back():
    def no_route(request):
        return httpx.Response(404, json={"error": "Not Found"})

    with pytest.raises(HFNotFoundError, match="use_responses_api=False"):
        local(no_route).complete(USER, {})
    with pytest.raises(HFNotFoundError, match="use_responses_api=False"):
        list(local(no_route).stream(USER, {}))


def test_mcp_tools_are_refused_on_chat_completions():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    mcp = {"type": "mcp", "server_label": "x", "server_url": "https://mcp.example/sse"}
    service = local(refuse)
    service_chat = ChatService(model="qwen", connection=service.connection)
    with pytest.raises(HFConfigError, match="use_responses_api=True"):
        service_chat.complete(USER, {"tools": [mcp]})


def test_mcp_tools_default_to_no_approval_and_their_calls_are_reported():
    handler = answer("routerjs_mcp_call.json")
    mcp = {"type": "mcp", "server_label": "demo", "server_url": "https://mcp.example/mcp"}
    result = local(handler).complete(USER, {"tools": [mcp]})
    sent = json.loads(handler.seen[0].content)["tools"][0]
    assert sent["require_approval"] == "never"
    details = response_details(result.completion)
    assert details is not None
    assert details.mcp_calls
    assert result.completion.first.tool_calls == ()  # the server ran them: never run again
    meta = details.metadata()
    assert meta["mcp_calls"][0]["name"] == details.mcp_calls[0].name


# --- the router: failover on a failed response (HTTP 200) ----------------------------------------


class RouterResponses:
    """The router: /v1/models from the recorded catalogue; /v1/responses fails for ``failing``."""

    def __init__(self, failing=()):
        self.failing = set(failing)
        self.bodies = []

    def __call__(self, request):
        if request.method == "GET":
            return router_catalogue(request)
        assert request.url.path == "/v1/responses"
        body = json.loads(request.content)
        self.bodies.append(body)
        stream = body.get("stream")
        failed = body["model"] in self.failing
        name = "routerjs_error_image_text_only_model" if failed else "routerjs_tool_call"
        if stream:
            name = name + "_stream.sse"
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=recorded(name)
            )
        return httpx.Response(200, content=recorded(name + ".json"))


def make_router(router, model=MODEL):
    return routed_service(model, router, use_responses_api=True)


def test_previous_response_id_is_refused_on_the_router_before_any_request():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    router = routed_service(MODEL, refuse, use_responses_api=True)
    params = {"previous_response_id": "resp_abc"}
    with pytest.raises(HFConfigError, match="keeps no responses") as info:
        router.complete(USER, params)
    assert "conversation's messages" in info.value.message
    with pytest.raises(HFConfigError, match="previous_response_id"):
        router.stream(USER, params)  # refused when made, not on iteration
    with pytest.raises(HFConfigError, match="previous_response_id"):
        asyncio.run(router.acomplete(USER, params))
    with pytest.raises(HFConfigError, match="previous_response_id"):
        router.astream(USER, params)


def test_previous_response_id_still_goes_to_a_self_hosted_server():
    handler = answer("llamacpp_text.json")
    local(handler).complete(USER, {"previous_response_id": "resp_abc"})
    assert json.loads(handler.seen[0].content)["previous_response_id"] == "resp_abc"


@pytest.mark.parametrize("where", ["router", "base_url"])
def test_previous_response_id_is_refused_on_chat_completions(where):
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    if where == "router":
        service = routed_service(MODEL, refuse)
    else:
        transport = httpx.MockTransport(refuse)
        service = ChatService(
            model="qwen", base_url=BASE, client=HFClient(base_url=BASE, transport=transport),
            async_client=AsyncHFClient(base_url=BASE, transport=transport),
        )  # fmt: skip
    params = {"previous_response_id": "resp_abc"}
    with pytest.raises(HFConfigError, match="belongs to the Responses API") as info:
        service.complete(USER, params)
    assert "use_responses_api=True" in info.value.message
    with pytest.raises(HFConfigError, match="previous_response_id"):
        service.stream(USER, params)
    with pytest.raises(HFConfigError, match="previous_response_id"):
        asyncio.run(service.acomplete(USER, params))
    with pytest.raises(HFConfigError, match="previous_response_id"):
        service.astream(USER, params)


def test_a_failed_response_with_http_200_fails_over_to_the_next_provider():
    router = RouterResponses(failing={f"{MODEL}:cerebras"})
    result = make_router(router).complete(USER, {"tools": TOOLS})
    models = [body["model"] for body in router.bodies]
    assert models[0] == f"{MODEL}:cerebras"
    assert len(models) == 2
    assert result.model == models[1]
    assert result.completion.first.tool_calls


def test_a_failed_response_on_the_last_provider_raises_typed():
    router = RouterResponses(failing={f"{MODEL}:cerebras", f"{MODEL}:nscale"})
    with pytest.raises(HFResponseError, match="image input is not supported") as info:
        make_router(router).complete(USER, {"tools": TOOLS})
    assert info.value.status_code == 500
    assert info.value.fails_over


def test_a_stream_failing_after_created_and_in_progress_still_fails_over():
    # The router sends response.created and response.in_progress before the provider's failure:
    # no delta reached the caller, so the next provider is tried.
    router = RouterResponses(failing={f"{MODEL}:cerebras"})
    stream = make_router(router).stream(USER, {"tools": TOOLS})
    deltas = list(stream)
    assert router.bodies[0]["model"] == f"{MODEL}:cerebras"
    assert len(router.bodies) == 2
    assert any(delta.tool_calls for delta in deltas)
    assert stream.result().completion.first.tool_calls

    async def run():
        router.bodies.clear()
        astream = make_router(router).astream(USER, {"tools": TOOLS})
        return [delta async for delta in astream], astream.result()

    adeltas, result = asyncio.run(run())
    assert any(delta.tool_calls for delta in adeltas)
    assert len(router.bodies) == 2
    assert result.completion.first.tool_calls


def test_a_stream_failing_on_the_only_provider_raises_a_stream_error():
    router = RouterResponses(failing={f"{MODEL}:cerebras"})
    with pytest.raises(HFStreamError, match="image input is not supported"):
        list(make_router(router, f"{MODEL}:cerebras").stream(USER, {}))
