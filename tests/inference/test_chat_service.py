"""ChatService over a self-hosted endpoint (no catalog): calls, streams, breaks."""

import asyncio
import json

import httpx
import pytest

from hfbridge.errors import HFConfigError, HFStreamError
from hfbridge.inference.chat import CallOptions, ChatService
from hfbridge.transport import AsyncHFClient, HFClient

BASE = "http://127.0.0.1:1/v1"
USER = [{"role": "user", "content": "hi"}]

COMPLETION = {"id": "a", "model": "local", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}
STREAM = (
    b'data: {"id":"s","model":"local","choices":[{"index":0,"delta":{"role":"assistant","content":"hel"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
    b"data: [DONE]\n\n"
)


class Recorder:
    def __init__(self, stream_body=STREAM):
        self.bodies = []
        self.stream_body = stream_body

    def __call__(self, request):
        body = json.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream", "x-request-id": "rid-s"},
                                  content=self.stream_body)
        return httpx.Response(200, json=COMPLETION, headers={"x-request-id": "rid-1"})


def service(handler, **kwargs):
    transport = httpx.MockTransport(handler)
    return ChatService(model="local", base_url=BASE, client=HFClient(base_url=BASE, transport=transport),
                       async_client=AsyncHFClient(base_url=BASE, transport=transport), **kwargs)


def test_complete_sends_the_model_verbatim_and_reports_the_request_id():
    recorder = Recorder()
    result = service(recorder).complete(USER, {"temperature": 0.3})
    assert recorder.bodies == [{"model": "local", "messages": USER, "temperature": 0.3}]
    assert result.completion.first.content == "hello"
    assert (result.request_id, result.provider, result.model, result.cost_usd) == ("rid-1", None, "local", None)


def test_custom_endpoint_accepts_free_model_names():
    assert ChatService(model="qwen2.5:0.5b", base_url=BASE).spec.model_id == "qwen2.5:0.5b"
    with pytest.raises(HFConfigError):
        ChatService(model="has space", base_url=BASE)


def test_stream_yields_deltas_then_the_assembled_result():
    recorder = Recorder()
    stream = service(recorder).stream(USER, {"max_tokens": 5})
    deltas = list(stream)
    assert "".join(d.content for d in deltas) == "hello"
    assert recorder.bodies[0]["stream_options"] == {"include_usage": True}
    result = stream.result()
    assert result.completion.first.content == "hello"
    assert result.completion.usage is not None and result.completion.usage.total_tokens == 5
    assert result.request_id == "rid-s"


def test_result_before_the_end_is_refused():
    stream = service(Recorder()).stream(USER, {})
    iterator = iter(stream)
    next(iterator)
    with pytest.raises(Exception, match="has not finished"):
        stream.result()


def test_a_stream_cut_short_raises_instead_of_ending_quietly():
    cut = STREAM.split(b"\n\n")[0] + b"\n\n"  # the first chunk only: no finish_reason yet
    with pytest.raises(HFStreamError, match="without \\[DONE\\] and before a finish_reason"):
        list(service(Recorder(cut)).stream(USER, {}))


def test_a_stream_ending_at_eof_after_its_finish_chunk_is_complete():
    # cerebras through the router, TGI 1.x/2.x: no [DONE]; the finish (and usage) came, so the
    # answer is whole.
    stream = service(Recorder(STREAM.replace(b"data: [DONE]\n\n", b""))).stream(USER, {})
    assert "".join(delta.content for delta in stream) == "hello"
    result = stream.result()
    assert (result.completion.first.finish_reason, result.completion.usage.total_tokens) == (
        "stop", 5
    )


def test_eof_after_the_finish_chunk_but_before_usage_is_complete_without_usage():
    body = b"\n\n".join(STREAM.split(b"\n\n")[:2]) + b"\n\n"  # finish chunk, then EOF
    stream = service(Recorder(body)).stream(USER, {})
    assert "".join(delta.content for delta in stream) == "hello"
    assert stream.result().completion.usage is None
    assert stream.result().completion.first.finish_reason == "stop"


def test_async_complete_and_stream_work_across_event_loops():
    svc = service(Recorder())

    async def once():
        result = await svc.acomplete(USER, {})
        stream = svc.astream(USER, {})
        text = "".join([d.content async for d in stream])
        return result.completion.first.content, text, stream.result().completion.usage.total_tokens

    assert asyncio.run(once()) == ("hello", "hello", 5)
    assert asyncio.run(once()) == ("hello", "hello", 5)


def test_per_call_options_reach_the_transport():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        seen["timeout"] = request.extensions["timeout"]["read"]
        return httpx.Response(200, json=COMPLETION)

    service(handler).complete(USER, {}, CallOptions(timeout=3.5, headers={"X-Trace": "t1"}))
    assert seen["x-trace"] == "t1"
    assert seen["timeout"] == 3.5


def test_validation_happens_before_any_request():
    def handler(request):
        pytest.fail("no request may be sent")

    with pytest.raises(HFConfigError):
        service(handler).complete([{"role": "user", "content": 5}], {})
    with pytest.raises(HFConfigError):
        service(handler).stream(USER, {"max_tokens": 0})
