"""The Responses API wire modules against the real llama-server's ``/v1/responses``.

Requests are built by ``hfbridge.wire.responses``, sent by hfbridge's own transport (streams with
``end=STREAM_END``, the route's end rule: no server sends ``[DONE]`` after it), and read by
``responses_result``/``responses_stream``. ChatHF and HFLLM reach this route through the route
seam in a later change; these tests pin what the wire layer alone promises on a real server.
Assertions are on structure, not exact text (a 0.5B model).
"""

import json

import pytest

from hfbridge.errors import HFBadRequestError, HFServerError
from hfbridge.transport import ClientConfig, HFClient
from hfbridge.wire.responses import (
    RESPONSES_PATH,
    STREAM_END,
    messages_to_input,
    responses_request,
)
from hfbridge.wire.responses_result import parse_response, response_details
from hfbridge.wire.responses_stream import ResponsesStreamFold
from hfbridge.wire.server_info import (
    CHAT_TOKENIZE_PATHS,
    chat_tokenize_body,
    parse_llamacpp_props,
    parse_token_count,
    server_model,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
HELLO = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello in French."},
]


@pytest.fixture(scope="module")
def client(chat_url):
    with HFClient(ClientConfig.create(base_url=chat_url, timeout=120)) as http:
        yield http


def call(client, model, messages, params, max_retries=None, **options):
    request = responses_request(messages, params, **options)
    answer = client.request(
        "POST", RESPONSES_PATH, json=request.payload(model), max_retries=max_retries
    )
    return parse_response(answer.json())


def stream(client, model, messages, params):
    request = responses_request(messages, params, stream=True)
    fold = ResponsesStreamFold()
    deltas = []
    for event in client.stream("POST", RESPONSES_PATH, json=request.payload(model), end=STREAM_END):
        deltas.extend(fold.add(event))
    return fold, deltas


def test_text_call_and_stream_agree(client, chat_model):
    params = {"temperature": 0, "max_tokens": 12}
    called = call(client, chat_model, HELLO, params)
    fold, deltas = stream(client, chat_model, HELLO, params)
    assert fold.finished
    streamed = fold.result()
    assert called.first.content
    assert streamed.first.content == called.first.content
    assert "".join(d.content for d in deltas) == streamed.first.content
    assert called.usage is not None
    assert called.usage.prompt_tokens > 0
    assert streamed.usage is not None
    assert streamed.usage.completion_tokens == called.usage.completion_tokens
    assert called.id.startswith("resp_")
    assert called.model == chat_model


def test_tool_call_then_replay(client, chat_model):
    params = {"tools": [WEATHER], "tool_choice": "auto", "temperature": 0, "max_tokens": 48}
    first = call(client, chat_model, ASK, params)
    (tool_call,) = first.first.tool_calls
    arguments, problem = tool_call.parsed_arguments()
    assert problem is None
    assert tool_call.name == "get_weather"
    assert "city" in (arguments or {})
    assert first.first.finish_reason == "tool_calls"
    function = {"name": tool_call.name, "arguments": tool_call.arguments}
    replay = [
        *ASK,
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": tool_call.id, "type": "function", "function": function}]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": '{"temp_c": 18, "sky": "clear"}'},
    ]  # fmt: skip
    answer = call(client, chat_model, replay, {**params, "tool_choice": "none"})
    assert answer.first.tool_calls == ()
    assert answer.first.content
    assert "18" in answer.first.content


def test_streamed_tool_call(client, chat_model):
    fold, deltas = stream(
        client, chat_model, ASK, {"tools": [WEATHER], "temperature": 0, "max_tokens": 48}
    )
    fragments = [call for delta in deltas for call in delta.tool_calls]
    assert fragments[0].name == "get_weather"
    assert fragments[0].id
    (tool_call,) = fold.result().first.tool_calls
    assert json.loads(tool_call.arguments) == json.loads("".join(f.arguments for f in fragments))
    assert fold.finish_reason == "tool_calls"


def test_structured_output_needs_the_mirrored_response_format_on_llama_server(client, chat_model):
    city = {"type": "json_schema", "json_schema": {"name": "City", "schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
        "required": ["name", "country"]}}}  # fmt: skip
    ask = [{"role": "user", "content": "Which city is the capital of France?"}]
    params = {"response_format": city, "temperature": 0, "max_tokens": 40}
    answer = call(client, chat_model, ask, params, mirror_response_format=True)
    assert set(json.loads(answer.first.content or "")) == {"name", "country"}


def test_previous_response_id_is_refused_with_a_typed_error(client, chat_model):
    with pytest.raises(HFBadRequestError, match="previous_response_id"):
        call(client, chat_model, HELLO, {"previous_response_id": "resp_x", "max_tokens": 4})


def test_an_image_to_a_text_only_server_is_a_500_so_check_before_sending(client, chat_model):
    """Why vision-aware routing must decide before the request: the server answers 500."""
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWE"
        "XHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
    )
    parts = [{"type": "text", "text": "Colour?"}, {"type": "image_url", "image_url": {"url": png}}]
    image = [{"role": "user", "content": parts}]
    with pytest.raises(HFServerError, match="image input is not supported"):
        call(client, chat_model, image, {"max_tokens": 4}, max_retries=0)
    models = client.request("GET", "models").json()
    assert server_model(models, chat_model).supports_images is False
    props = parse_llamacpp_props(
        client.request("GET", f"{client.config.base_url.rsplit('/v1', 1)[0]}/props").json()
    )
    assert props.vision is False


def test_the_server_counts_a_conversation_as_its_chat_route_will(client, chat_model):
    body = chat_tokenize_body("llama.cpp", messages_to_input(HELLO), chat_model)
    root = client.config.base_url.rsplit("/v1", 1)[0]
    counted = parse_token_count(
        client.request("POST", f"{root}/{CHAT_TOKENIZE_PATHS['llama.cpp']}", json=body).json()
    )
    answer = call(client, chat_model, HELLO, {"max_tokens": 1})
    assert answer.usage is not None
    assert counted == answer.usage.prompt_tokens
    assert response_details(answer) is not None
