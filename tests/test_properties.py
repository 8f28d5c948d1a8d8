"""Property tests: parsers fed arbitrary bytes, text or JSON raise only hfbridge's typed errors.

Whatever a server or a proxy sends, the caller sees a value or an :class:`~hfbridge.errors.HFError`
subclass, never ``KeyError``, ``IndexError``, ``TypeError``, ``AttributeError``,
``OverflowError`` or ``RecursionError``. Covered: the SSE line splitter and decoder, stream event
parsing, chat completions and chunks, embeddings (OpenAI and feature-extraction), text generation
(TGI, completions), the catalog's router entries, error responses, and, end to end through
``httpx.MockTransport``, the clients and services on arbitrary answers.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.transport.sse_oracle import LineDecoder, SSEDecoder, iter_lines, iter_sse_payloads

from hfbridge.catalog.models import parse_router_model, parse_router_models
from hfbridge.errors import HFError, HFModelLoadingError, HFStatusError, error_from_response
from hfbridge.inference.chat import ChatService
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.transport import AsyncHFClient, HFClient, HFResponse, RetryPolicy
from hfbridge.transport._common import parse_event
from hfbridge.transport.limiter import reset_limiters
from hfbridge.transport.retry import compute_wait, parse_retry_after
from hfbridge.transport.sse import EventParser, iter_events
from hfbridge.wire.chat import parse_chat_completion
from hfbridge.wire.embeddings import parse_feature_extraction, parse_openai_embeddings
from hfbridge.wire.stream import ChunkAccumulator
from hfbridge.wire.textgen import (
    parse_completion,
    parse_completion_chunk,
    parse_tgi_response,
    parse_tgi_stream_event,
    tgi_usage,
)

FAST = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
URL = "http://127.0.0.1:1/v1/chat/completions"
BIG = 10**400  # valid JSON, beyond any float

# Keys the parsers look for, so that generated objects reach deep into them.
KEYS = st.sampled_from([
    "choices", "message", "delta", "content", "tool_calls", "function", "arguments", "name", "id",
    "index", "finish_reason", "usage", "prompt_tokens", "completion_tokens", "total_tokens",
    "prompt_tokens_details", "cached_tokens", "data", "embedding", "object", "error", "error_type",
    "message", "http_status_code", "code", "type", "token", "text", "special", "generated_text",
    "details", "generated_tokens", "input_length", "estimated_time", "errors", "detail",
    "providers", "provider", "status", "pricing", "input", "output", "supports_tools",
    "context_length", "reasoning", "refusal", "logprobs", "created", "model", "x-prompt-tokens",
])  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.just(BIG)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["content-type", "retry-after", "x-request-id", "x-error-code", "x-error-message",
         "x-prompt-tokens", "x-generated-tokens", "link"]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=30),
)  # fmt: skip
DEEP = "[" * 100_000  # deeper than the JSON parser's recursion limit


def only_typed(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; an HFError is an accepted outcome, anything else fails the test."""
    try:
        return call(*args, **kwargs)
    except HFError as exc:
        return exc


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


# --- SSE -----------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.binary(max_size=40), max_size=20))
@example([b"data: {}\r", b"\ndata: [DONE]\n\n"])
@example([b"\xff\xfe data:\x00 \r\r\n"])
def test_line_decoder_never_fails_and_ignores_chunk_boundaries(chunks):
    whole = b"".join(chunks)
    assert list(iter_lines(chunks)) == list(iter_lines([whole]))
    decoder = LineDecoder()
    lines = [line for chunk in chunks for line in decoder.feed(chunk)] + decoder.flush()
    assert all(isinstance(line, str) for line in lines)


@FAST
@given(st.lists(st.binary(max_size=40), max_size=20))
@example([b"data: {}\r", b"\ndata: [DONE]\n\n"])
@example([b"data: a\r", b"\r\ndata: b", b"\r", b"\n\n"])
@example([b"\xff\xfe data:\x00 \r\r\n"])
def test_event_parser_agrees_with_the_line_decoder(chunks):
    decoder, parser = SSEDecoder(), EventParser()
    expected = list(iter_sse_payloads(iter_lines(chunks), decoder))
    assert list(iter_events(chunks, parser)) == expected
    assert parser.done == decoder.done
    assert list(iter_events([b"".join(chunks)], EventParser())) == expected


@FAST
@given(st.lists(st.text(max_size=40), max_size=30))
@example(["data: [DONE]", "data: after"])
@example(["data:", "data", ":comment", "event: x", "data:  two spaces", ""])
def test_sse_decoder_yields_strings_and_stops_at_done(lines):
    decoder = SSEDecoder()
    payloads = list(iter_sse_payloads(lines, decoder))
    assert all(isinstance(payload, str) for payload in payloads)
    assert all(payload.strip() != "[DONE]" for payload in payloads)


@FAST
@given(st.text(max_size=200) | JSON.map(dumps))
@example(DEEP)
@example('{"error": {"message": null, "http_status_code": true}}')
@example('{"error": [1, 2], "error_type": {}}')
def test_parse_event_returns_json_or_raises_a_stream_error(payload):
    only_typed(parse_event, payload, URL)


# --- chat ----------------------------------------------------------------------------------------


@FAST
@given(JSON)
@example({"choices": [{"message": {"tool_calls": [{"function": {"arguments": {"a": BIG}}}]}}]})
@example({"choices": [None, 3, {"message": {"content": [{"text": 1}, 2]}}]})
def test_parse_chat_completion_returns_a_completion_or_a_typed_error(body):
    result = only_typed(parse_chat_completion, body)
    if not isinstance(result, HFError):
        assert result.choices
        for call in result.first.tool_calls:
            call.parsed_arguments()  # never raises: (arguments, None) or (None, reason)


@FAST
@given(st.lists(JSON, max_size=8))
@example([[1, 2], "x", 3, None])
@example([{"choices": [{"delta": {"tool_calls": [{"index": True, "function": {"name": 3}}]}}]}])
def test_chunk_accumulator_takes_any_events(events):
    accumulator = ChunkAccumulator()
    for event in events:
        only_typed(accumulator.add, event)
    completion = accumulator.completion()
    assert completion.choices


# --- embeddings ----------------------------------------------------------------------------------


VECTORS = st.lists(
    st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.just(BIG),
             max_size=4),
    max_size=4,
)  # fmt: skip


@FAST
@given(JSON | st.fixed_dictionaries({"data": st.lists(JSON, max_size=4)}), st.integers(0, 4))
@example({"data": [{"embedding": [BIG], "index": 0}]}, 1)
@example({"data": [{"embedding": "AAAA", "index": 0}, {"embedding": "é", "index": 1}]}, 2)
@example({"data": [{"embedding": [1.0], "index": 1.0}]}, 1)
def test_parse_openai_embeddings(payload, count):
    result = only_typed(parse_openai_embeddings, payload, count=count)
    if not isinstance(result, HFError):
        assert len(result) == count
        assert all(math.isfinite(x) for vector in result for x in vector)


@FAST
@given(
    JSON | VECTORS | st.lists(VECTORS, max_size=3),
    st.integers(1, 4),
    st.booleans(),
    st.sampled_from([None, True, False]),
)
@example([[1e308], [1e308]], 1, True, None)
@example([[[BIG]]], 1, False, None)
@example([], 1, False, None)
def test_parse_feature_extraction(payload, count, single, normalize):
    count = 1 if single else count
    result = only_typed(
        parse_feature_extraction, payload, count=count, single=single, normalize=normalize
    )
    if not isinstance(result, HFError):
        assert len(result) == count
        assert all(math.isfinite(x) for vector in result for x in vector)


# --- text generation -----------------------------------------------------------------------------


@FAST
@given(JSON, HEADERS)
@example([{"generated_text": "x", "details": {"input_length": BIG}}], {"x-prompt-tokens": "²"})
def test_textgen_parsers(body, headers):
    only_typed(parse_tgi_response, body, headers)
    only_typed(parse_tgi_stream_event, body)
    only_typed(parse_completion, body)
    only_typed(parse_completion_chunk, body)
    details = body if isinstance(body, dict) else None
    tgi_usage(details, headers)  # never raises


# --- catalog -------------------------------------------------------------------------------------


@FAST
@given(JSON)
@example({"data": [{"id": "a/b", "providers": [{"provider": "x", "context_length": BIG}]}]})
def test_router_catalogue_parsers(body):
    only_typed(parse_router_models, body)
    only_typed(parse_router_model, body, "a/b")


# --- errors and retries --------------------------------------------------------------------------


@FAST
@given(
    st.integers(100, 599), HEADERS, st.binary(max_size=200) | JSON.map(lambda v: dumps(v).encode())
)
@example(503, {}, b'{"error": "x", "estimated_time": 1%s}' % (b"0" * 400))
@example(502, {"content-type": "text/html"}, b"<html><title>")
@example(500, {}, DEEP.encode())
@example(400, {}, ('{"a":' * 900 + "1" + "}" * 900).encode())
def test_error_from_response_always_builds_a_status_error(status, headers, body):
    error = error_from_response(
        status_code=status, headers=headers, body=body, method="POST", url=URL,
        model="org/m", retry_after=parse_retry_after(headers.get("retry-after")),
    )  # fmt: skip
    assert isinstance(error, HFStatusError)
    assert error.status_code == status
    wait = compute_wait(RetryPolicy(), 1, error)
    assert 0 <= wait <= RetryPolicy().wait_cap
    if isinstance(error, HFModelLoadingError) and error.estimated_time is not None:
        assert not math.isnan(wait)


@FAST
@given(st.text(max_size=40))
@example("Wed, 21 Oct 2015 07:28:00 GMT")
@example("1e999")
@example("-0")
def test_parse_retry_after(value):
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@FAST
@given(st.binary(max_size=200) | JSON.map(lambda v: dumps(v).encode()))
@example(DEEP.encode())
def test_response_json_returns_a_value_or_a_response_error(content):
    response = HFResponse(200, {"content-type": "application/json"}, content, URL, None)
    only_typed(response.json)


# --- end to end: clients and services over arbitrary answers -------------------------------------


def answering(status: int, headers: dict[str, str], body: bytes) -> httpx.MockTransport:
    # Raw header bytes, as a server sends them (a str header must be ASCII in httpx).
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
    return httpx.MockTransport(lambda _: httpx.Response(status, headers=raw, content=body))


def chat(transport: httpx.MockTransport) -> ChatService:
    reset_limiters()  # one example's Retry-After must not pause the next example's requests
    base = "http://127.0.0.1:1/v1"
    client = HFClient(base_url=base, max_retries=0, transport=transport)
    return ChatService(model="m", base_url=base, client=client)


ANSWERS = st.tuples(
    st.sampled_from([200, 200, 200, 201, 204, 400, 404, 429, 500, 503]),
    HEADERS,
    st.binary(max_size=200) | JSON.map(lambda v: dumps(v).encode()),
)
SSE_BODIES = st.lists(
    st.sampled_from(["data: ", "data:", "\n", "\r\n", "\r", ":", "event: x\n", "[DONE]"])
    | JSON.map(dumps)
    | st.text(max_size=10),
    max_size=30,
).map(lambda parts: "".join(parts).encode())


@FAST
@given(ANSWERS)
def test_chat_complete_on_any_answer(answer):
    status, headers, body = answer
    only_typed(
        chat(answering(status, headers, body)).complete, [{"role": "user", "content": "x"}], {}
    )


@FAST
@given(SSE_BODIES, st.sampled_from(["text/event-stream", "text/html", "application/json", ""]))
@example(
    b'data: {"choices": [{"delta": {"content": "a"}}]}\n\ndata: [DONE]\n\n', "text/event-stream"
)
@example(b"data: null\n\ndata: [1]\n\n", "text/event-stream")
def test_chat_stream_on_any_event_stream(body, content_type):
    service = chat(answering(200, {"content-type": content_type}, body))
    stream = service.stream([{"role": "user", "content": "x"}], {})
    outcome = only_typed(lambda: [delta.content for delta in stream])
    if not isinstance(outcome, HFError):
        stream.result()  # a stream that ended without an error is complete


@settings(max_examples=40, deadline=None, database=None)
@given(SSE_BODIES)
def test_async_chat_stream_on_any_event_stream(body):
    base = "http://127.0.0.1:1/v1"
    transport = answering(200, {"content-type": "text/event-stream"}, body)
    client = AsyncHFClient(base_url=base, max_retries=0, transport=transport)
    service = ChatService(model="m", base_url=base, async_client=client)

    async def run() -> Any:
        stream = service.astream([{"role": "user", "content": "x"}], {})
        try:
            return [delta.content async for delta in stream]
        except HFError as exc:
            return exc

    asyncio.run(run())


@FAST
@given(ANSWERS, st.sampled_from(["openai", "feature-extraction"]), st.integers(1, 3))
def test_embeddings_on_any_answer(answer, api, count):
    status, headers, body = answer
    reset_limiters()
    base = "http://127.0.0.1:1/v1"
    client = HFClient(base_url=base, max_retries=0, transport=answering(status, headers, body),
                      sleep=lambda _s: None)  # fmt: skip
    # a bulk job retries 429s until its deadline: a short one keeps a 429-only answer brief
    service = EmbeddingService(model="e", base_url=base, api=api, client=client, job_timeout=0.05)
    result = only_typed(service.embed_documents, ["a"] * count)
    if not isinstance(result, HFError):
        assert len(result) == count


@pytest.mark.parametrize("body", [DEEP.encode(), b'{"choices": [{"message": ' * 400])
def test_deeply_nested_bodies_are_typed_errors(body):
    outcome = only_typed(
        chat(answering(200, {}, body)).complete, [{"role": "user", "content": "x"}], {}
    )
    assert isinstance(outcome, HFError)
