"""TextGenService over MockTransport: route choice, URLs, bodies, streams, stop trimming, errors.

TGI's native routes cannot run on this machine; their wire format comes from the recorded bodies in
tests/fixtures/textgen (PROTOCOL.md 3.3, 3.4).
"""

import json
from pathlib import Path

import httpx
import pytest

from hfbridge.errors import HFConfigError, HFStreamError
from hfbridge.inference.textgen import TextGenService
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.textgen import GenerationParams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textgen"
TGI = "http://127.0.0.1:1"
OPENAI = "http://127.0.0.1:1/v1"
ROUTER = "https://router.huggingface.co"
TOKEN = "hf_unit_test_token"


def fixture_bytes(name):
    return (FIXTURES / name).read_bytes()


class Server:
    """A MockTransport handler: records requests, answers from a table keyed by URL path."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers[request.url.path]
        return answer(request) if callable(answer) else answer

    @property
    def bodies(self):
        return [json.loads(r.content) for r in self.requests]


def sse(name, **headers):
    return httpx.Response(
        200, headers={"content-type": "text/event-stream", **headers}, content=fixture_bytes(name)
    )


def service(server, base_url=None, **kwargs):
    transport = httpx.MockTransport(server)
    client_kwargs = {"base_url": base_url, "token": TOKEN}
    return TextGenService(
        base_url=base_url,
        client=HFClient(transport=transport, **client_kwargs),
        async_client=AsyncHFClient(transport=transport, **client_kwargs),
        **kwargs,
    )


def params(**values):
    return GenerationParams.from_mapping(values)


# --- route choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "api"),
    [
        ({"base_url": OPENAI, "model": "local"}, "completions"),
        ({"base_url": OPENAI}, "completions"),
        ({"model": "openai-community/gpt2:hf-inference"}, "hf-inference"),
        ({"model": "meta-llama/Llama-3.1-8B-Instruct"}, "chat"),
        ({"model": "meta-llama/Llama-3.1-8B-Instruct:together"}, "chat"),
        ({"base_url": TGI, "api": "tgi"}, "tgi"),
    ],
)
def test_default_route(kwargs, api):
    assert TextGenService(token=TOKEN, **kwargs).api == api


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api": "tgi", "model": "org/name"}, "api='tgi' needs base_url"),
        ({"api": "completions", "model": "org/name"}, "api='completions' needs base_url"),
        ({"api": "hf-inference", "model": "org/name:together"}, "pinned to 'together'"),
        ({"api": "vllm", "base_url": OPENAI}, "api must be one of"),
        ({"base_url": "ftp://x"}, "http"),
    ],
)
def test_impossible_routes_are_refused_at_construction(kwargs, message):
    with pytest.raises(HFConfigError, match=message):
        TextGenService(token=TOKEN, **kwargs)


# --- TGI ------------------------------------------------------------------------------------------


def test_tgi_generate_url_body_and_result():
    answer = httpx.Response(
        200,
        json=json.loads(fixture_bytes("tgi_generate.json")),
        headers={"x-request-id": "rid-1", "x-prompt-tokens": "5"},
    )
    server = Server({"/generate": answer})
    svc = service(server, base_url=TGI + "/v1", api="tgi")
    result = svc.complete("The answer is", params(max_new_tokens=12, top_k=10, watermark=True))
    assert str(server.requests[0].url) == f"{TGI}/generate"
    assert server.bodies == [
        {
            "inputs": "The answer is",
            "parameters": {"max_new_tokens": 12, "top_k": 10, "watermark": True, "details": True},
        }
    ]
    assert (result.text, result.finish_reason, result.request_id) == (
        "100% open source.",
        "length",
        "rid-1",
    )
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 12)
    assert (result.api, result.provider) == ("tgi", None)


def test_tgi_leaves_the_stop_sequence_in_the_text_and_it_is_trimmed():
    answer = {"generated_text": "Hello\n\nWorld", "details": {"finish_reason": "stop_sequence"}}
    server = Server({"/generate": httpx.Response(200, json=answer)})
    result = service(server, base_url=TGI, api="tgi").complete("x", params(stop=["\n\n"]))
    assert server.bodies[0]["parameters"]["stop"] == ["\n\n"]
    assert (result.text, result.finish_reason) == ("Hello", "stop")
    assert result.native_finish_reason == "stop_sequence"  # TGI's own word, kept


def test_tgi_stream_skips_special_tokens_and_ends_without_done():
    server = Server({"/generate_stream": sse("tgi_generate_stream.txt", **{"x-request-id": "s1"})})
    stream = service(server, base_url=TGI, api="tgi").stream("Is it open?", params(seed=1))
    deltas = list(stream)
    assert deltas == ["100", "%", " open", " source", "."]
    assert str(server.requests[0].url) == f"{TGI}/generate_stream"
    assert server.bodies[0] == {"inputs": "Is it open?", "parameters": {"seed": 1, "details": True}}
    result = stream.result()
    assert result.text == "100% open source."
    assert (result.finish_reason, result.request_id) == ("stop", "s1")
    assert result.native_finish_reason == "eos_token"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 6)


def test_tgi_stream_error_event_raises_with_its_type():
    server = Server({"/generate_stream": sse("tgi_stream_error.txt")})
    stream = service(server, base_url=TGI, api="tgi").stream("x", params())
    received = []
    with pytest.raises(HFStreamError) as info:
        received.extend(stream)
    assert received == ["100"]
    assert info.value.error_type == "validation"
    assert "best_of" in str(info.value)
    with pytest.raises(Exception, match="has not finished"):
        stream.result()


def test_stream_holds_back_a_stop_sequence_split_across_tokens():
    events = b"".join(
        b'data: {"token":{"id":1,"text":"%s","special":false}}\n\n' % text.encode()
        for text in ("Hi", " E", "N", "D tail")
    )
    # TGI's last event carries generated_text; a stream without it counts as cut.
    events += b'data: {"token":{"id":2,"text":"","special":true},"generated_text":"Hi END tail"}\n\n'
    answer = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events)
    server = Server({"/generate_stream": answer})
    stream = service(server, base_url=TGI, api="tgi").stream("x", params(stop=["END"]))
    assert list(stream) == ["Hi", " "]
    assert (stream.result().text, stream.result().finish_reason) == ("Hi ", "stop")


async def test_tgi_async_complete_and_stream():
    server = Server(
        {
            "/generate": httpx.Response(200, json={"generated_text": "ok"}),
            "/generate_stream": sse("tgi_generate_stream.txt"),
        }
    )
    svc = service(server, base_url=TGI, api="tgi")
    assert (await svc.acomplete("x", params())).text == "ok"
    stream = svc.astream("x", params())
    deltas = [delta async for delta in stream]
    assert "".join(deltas) == stream.result().text == "100% open source."


# --- hf-inference ---------------------------------------------------------------------------------


def test_hf_inference_task_route_list_answer():
    answer = httpx.Response(200, content=fixture_bytes("hf_inference_text_generation.json"))
    path = "/hf-inference/models/openai-community/gpt2"
    server = Server({path: answer})
    svc = service(server, model="openai-community/gpt2:hf-inference")
    result = svc.complete("The answer is", params(max_new_tokens=9, stop="The end"))
    assert str(server.requests[0].url) == ROUTER + path
    assert server.bodies == [
        {
            "inputs": "The answer is",
            "parameters": {"max_new_tokens": 9, "stop": ["The end"], "return_full_text": False},
            "stream": False,
        }
    ]
    assert result.text == " 42, said the computer.\n\n"
    assert (result.provider, result.model) == ("hf-inference", "openai-community/gpt2:hf-inference")
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_hf_inference_stream_with_full_text_starts_with_the_prompt():
    path = "/hf-inference/models/openai-community/gpt2"
    server = Server({path: sse("tgi_generate_stream.txt")})
    svc = service(server, model="openai-community/gpt2", api="hf-inference")
    # The prompt contains the stop sequence: only generated text is searched.
    stream = svc.stream("Is it open source? ", params(return_full_text=True, stop=[" source"]))
    deltas = list(stream)
    assert server.bodies[0]["stream"] is True
    assert server.bodies[0]["parameters"]["return_full_text"] is True
    assert deltas[0] == "Is it open source? 100"
    assert stream.result().text == "Is it open source? 100% open"


# --- OpenAI completions ---------------------------------------------------------------------------


def test_completions_route_and_result():
    answer = httpx.Response(200, content=fixture_bytes("completions.json"))
    server = Server({"/v1/completions": answer})
    result = service(server, base_url=OPENAI, model="local").complete(
        "Q: capital of France?\nA:", params(max_new_tokens=6, stop=["\nQ:"], top_k=1)
    )
    assert server.bodies == [
        {
            "model": "local",
            "prompt": "Q: capital of France?\nA:",
            "max_tokens": 6,
            "top_k": 1,
            "stop": ["\nQ:"],
        }
    ]
    assert (result.text, result.finish_reason) == (" Paris.", "length")
    assert result.usage is not None
    assert result.usage.total_tokens == 15


def test_completions_stream_reads_usage_from_the_usage_only_chunk():
    server = Server({"/v1/completions": sse("completions_stream.txt")})
    stream = service(server, base_url=OPENAI).stream("Capital of France:", params())
    assert list(stream) == [" Par", "is."]
    assert "model" not in server.bodies[0]
    result = stream.result()
    assert (result.text, result.finish_reason) == (" Paris.", "stop")
    assert result.usage is not None
    assert result.usage.total_tokens == 10


def test_completions_stream_cut_before_its_finish_reason_is_an_error():
    body = b"\n\n".join(fixture_bytes("completions_stream.txt").split(b"\n\n")[:2]) + b"\n\n"
    answer = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    server = Server({"/v1/completions": answer})
    with pytest.raises(HFStreamError, match="without \\[DONE\\] and before a finish_reason"):
        list(service(server, base_url=OPENAI).stream("x", params()))


def test_completions_stream_ending_at_eof_after_its_finish_reason_is_complete():
    body = fixture_bytes("completions_stream.txt").replace(b"data: [DONE]\n\n", b"")
    answer = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    stream = service(Server({"/v1/completions": answer}), base_url=OPENAI).stream("x", params())
    assert "".join(stream) == " Paris."
    assert (stream.result().finish_reason, stream.result().usage.total_tokens) == ("stop", 10)


def test_completions_without_base_url_use_hf_inference_v1_completions():
    path = "/hf-inference/models/Qwen/Qwen2.5-Coder-7B/v1/completions"
    server = Server({path: httpx.Response(200, content=fixture_bytes("completions.json"))})
    svc = service(server, model="Qwen/Qwen2.5-Coder-7B:hf-inference", api="completions")
    assert svc.complete("x", params()).provider == "hf-inference"
    assert str(server.requests[0].url) == ROUTER + path
    assert server.bodies[0]["model"] == "Qwen/Qwen2.5-Coder-7B"


# --- chat-only models -----------------------------------------------------------------------------

CHAT_ANSWER = {
    "id": "c1",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def test_chat_route_sends_one_user_message():
    server = Server({"/v1/chat/completions": httpx.Response(200, json=CHAT_ANSWER)})
    svc = service(server, model="meta-llama/Llama-3.1-8B-Instruct")
    result = svc.complete("Say hi", params(max_new_tokens=5, temperature=0.2, stop="!"))
    assert server.bodies == [
        {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "messages": [{"role": "user", "content": "Say hi"}],
            "max_tokens": 5,
            "temperature": 0.2,
            "stop": ["!"],
        }
    ]
    assert (result.text, result.finish_reason, result.api) == ("Hi there", "stop", "chat")
    assert result.provider is None


@pytest.mark.parametrize("bad", [{"top_k": 5}, {"repetition_penalty": 1.2}, {"watermark": True}])
def test_chat_route_refuses_sampling_params_without_a_chat_equivalent(bad):
    server = Server({})
    svc = service(server, model="meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(HFConfigError, match="api='chat' cannot honour"):
        svc.complete("x", params(**bad))
    with pytest.raises(HFConfigError, match="api='chat' cannot honour"):
        svc.stream("x", params(**bad))
    assert server.requests == []


def test_chat_route_stream():
    chunks = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    answer = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks)
    server = Server({"/v1/chat/completions": answer})
    stream = service(server, model="meta-llama/Llama-3.1-8B-Instruct").stream("Say hi", params())
    assert list(stream) == ["Hi", " there"]
    assert server.bodies[0]["messages"] == [{"role": "user", "content": "Say hi"}]
    assert (stream.result().text, stream.result().finish_reason) == ("Hi there", "stop")


def test_a_route_unsupported_parameter_fails_before_any_request():
    server = Server({})
    svc = service(server, base_url=OPENAI)
    for call in (svc.complete, svc.stream):
        with pytest.raises(HFConfigError, match="typical_p"):
            call("x", params(typical_p=0.5))
    with pytest.raises(HFConfigError, match="prompt must be a string"):
        svc.complete(["x"], params())  # type: ignore[arg-type]
    assert server.requests == []
