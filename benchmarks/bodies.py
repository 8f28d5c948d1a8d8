"""The bodies the benchmark server sends: recorded ones, and large ones generated at run time.

The recorded bodies in ``benchmarks/bodies/`` follow llama.cpp ``llama-server``'s OpenAI-compatible
output (chunk fields, a role chunk first, a finish chunk, then a usage chunk with no choices, then
``[DONE]``). Long streams repeat the recorded chunk shape, so that only their length differs; they
are written into the server's temporary directory, never into the repository.

The Responses bodies (``responses.json``, ``responses_200.sse``) carry the same text as the chat
bodies in the event shapes of the Hugging Face router's ``/v1/responses`` (``responses.js``), as
recorded in ``tests/fixtures/responses/routerjs_text.json`` and ``routerjs_text_stream.sse``: every
event with its ``sequence_number``, text deltas with ``output_index`` and ``content_index``, the
full text again in the ``done`` events, and ``response.completed`` last. That is the complete
OpenAI shape (llama-server's own events leave out the indices, which OpenAI's SDK relies on), so
every Responses client reads it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "bodies"
CHAT_JSON = HERE / "chat.json"
STREAM_200 = HERE / "stream_200.sse"
TOOLS_SSE = HERE / "tools.sse"
RESPONSES_JSON = HERE / "responses.json"
RESPONSES_200 = HERE / "responses_200.sse"

EMBED_DIM = 384  # multilingual-e5-small, the project's real embeddings model
EMBED_CAP = 32  # inputs per request the embeddings server accepts (413 above)

_HEAD = {
    "created": 1732233000,
    "id": "chatcmpl-bench",
    "model": "bench",
    "system_fingerprint": "b4000-bench",
}
_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
TOOL_CALLS = (
    (
        "get_weather",
        {
            "location": "Paris, France",
            "unit": "celsius",
            "days": list(range(1, 15)),
            "detail": "hourly temperature, wind speed and direction, precipitation chance",
        },
    ),
    (
        "search_flights",
        {
            "origin": "CDG",
            "destination": "NRT",
            "date": "2025-03-14",
            "passengers": [{"type": "adult", "count": 2}, {"type": "child", "count": 1}],
            "cabin": "economy",
        },
    ),
)
"""The tool calls recorded in ``tools.sse``: name and the arguments their fragments add up to."""
TOOL_FRAGMENT = 3  # characters of arguments per chunk, as small models emit them


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
    event = {"choices": choices, **_HEAD, "object": "chat.completion.chunk", **extra}
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> str:
    return _chunk([{"finish_reason": finish, "index": 0, "delta": delta}])


def token(i: int) -> str:
    """The text of content chunk ``i``."""
    return f" {_WORDS[i % len(_WORDS)]}"


def stream_text(n_tokens: int) -> str:
    """The content a stream of ``n_tokens`` chunks adds up to."""
    return "".join(token(i) for i in range(n_tokens))


def sse_stream(n_tokens: int, *, usage: bool = True) -> str:
    """A chat stream of ``n_tokens`` content chunks (plus role, finish, and usage if asked)."""
    parts = [_delta({"role": "assistant", "content": None})]
    parts.extend(_delta({"content": token(i)}) for i in range(n_tokens))
    parts.append(_delta({}, "stop"))
    if usage:
        counts = {"completion_tokens": n_tokens, "prompt_tokens": 12, "total_tokens": n_tokens + 12}
        parts.append(_chunk([], usage=counts))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def without_usage(sse: str) -> str:
    """``sse`` less its usage chunk (the one with no choices), as servers send it unasked."""
    events = sse.split("\n\n")
    return "\n\n".join(e for e in events if not e.startswith('data: {"choices":[],'))


def write_sse_stream(path: Path, n_tokens: int) -> None:
    """Write :func:`sse_stream` (no usage chunk) for a large ``n_tokens``, a batch at a time."""
    with path.open("w", encoding="utf-8") as out:
        out.write(_delta({"role": "assistant", "content": None}))
        batch: list[str] = []
        for i in range(n_tokens):
            batch.append(_delta({"content": token(i)}))
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
        out.write(_delta({}, "stop"))
        out.write("data: [DONE]\n\n")


def sse_tools() -> str:
    """A stream that calls two tools, their arguments sent in small fragments."""
    parts = [_delta({"role": "assistant", "content": None})]
    for index, (name, args) in enumerate(TOOL_CALLS):
        head = {"index": index, "id": f"call_{index}", "type": "function"}
        parts.append(
            _delta({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        text = json.dumps(args, separators=(",", ":"))
        for start in range(0, len(text), TOOL_FRAGMENT):
            fragment = text[start : start + TOOL_FRAGMENT]
            parts.append(
                _delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            )
    parts.append(_delta({}, "tool_calls"))
    parts.append(
        _chunk([], usage={"completion_tokens": 150, "prompt_tokens": 80, "total_tokens": 230})
    )
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def tool_fragment_count() -> int:
    """How many argument fragments ``tools.sse`` carries."""
    return sum(
        -(-len(json.dumps(args, separators=(",", ":"))) // TOOL_FRAGMENT) for _, args in TOOL_CALLS
    )


def embedding_vector() -> str:
    """The JSON text of the vector the embeddings server returns for every input."""
    return "[" + ",".join(f"{math.sin(i + 1) / 10:.9f}" for i in range(EMBED_DIM)) + "]"


def chat_json() -> dict[str, Any]:
    """The recorded non-streamed chat completion."""
    return json.loads(CHAT_JSON.read_text(encoding="utf-8"))


def chat_content() -> str:
    """The assistant text of the recorded chat completion."""
    return str(chat_json()["choices"][0]["message"]["content"])


# --- the Responses API (router shape) ----------------------------------------------------------

_RESPONSE_ID = "resp_bench0000000000000000000000000000000000000000"
_MESSAGE_ID = "msg_bench00000000000000000000000000000000000000000"
_RESPONSE_HEAD = {
    "created_at": 1732233000,
    "error": None,
    "id": _RESPONSE_ID,
    "instructions": None,
    "max_output_tokens": None,
    "metadata": None,
    "model": "bench",
    "object": "response",
}
_RESPONSE_TAIL = {"tool_choice": "auto", "tools": [], "temperature": 1, "top_p": 1}


def _response_usage(output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": output_tokens + 12,
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _message_item(text: str | None) -> dict[str, Any]:
    done = text is not None
    return {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "status": "completed" if done else "in_progress",
        "content": [_text_part(text)] if done else [],
    }


def _response(text: str | None, output_tokens: int) -> dict[str, Any]:
    """The response object: in progress (``text`` None, no output yet) or completed."""
    done = text is not None
    return {
        **_RESPONSE_HEAD,
        "output": [_message_item(text)] if done else [],
        "status": "completed" if done else "in_progress",
        **_RESPONSE_TAIL,
        "usage": _response_usage(output_tokens) if done else _response_usage(0),
    }


def responses_json() -> dict[str, Any]:
    """The non-streamed Responses answer: the recorded chat completion's text and usage."""
    return _response(chat_content(), 42)


def _event(sequence: int, kind: str, **fields: Any) -> str:
    event = {"type": kind, **fields, "sequence_number": sequence}
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n"


def _text_delta(sequence: int, i: int) -> str:
    return _event(
        sequence,
        "response.output_text.delta",
        item_id=_MESSAGE_ID,
        output_index=0,
        content_index=0,
        delta=token(i),
    )


def _responses_head() -> list[str]:
    return [
        _event(0, "response.created", response=_response(None, 0)),
        _event(1, "response.in_progress", response=_response(None, 0)),
        _event(2, "response.output_item.added", output_index=0, item=_message_item(None)),
        _event(
            3,
            "response.content_part.added",
            item_id=_MESSAGE_ID,
            output_index=0,
            content_index=0,
            part=_text_part(""),
        ),
    ]


_HEAD_EVENTS = 4


def _responses_tail(n_tokens: int) -> list[str]:
    text, sequence = stream_text(n_tokens), _HEAD_EVENTS + n_tokens
    ids = {"item_id": _MESSAGE_ID, "output_index": 0, "content_index": 0}
    return [
        _event(sequence, "response.output_text.done", **ids, text=text),
        _event(sequence + 1, "response.content_part.done", **ids, part=_text_part(text)),
        _event(sequence + 2, "response.output_item.done", output_index=0, item=_message_item(text)),
        _event(sequence + 3, "response.completed", response=_response(text, n_tokens)),
    ]


def responses_sse(n_tokens: int) -> str:
    """A Responses stream of ``n_tokens`` text deltas (the chat stream's text), then the ends."""
    parts = _responses_head()
    parts.extend(_text_delta(_HEAD_EVENTS + i, i) for i in range(n_tokens))
    parts.extend(_responses_tail(n_tokens))
    return "".join(parts)


def write_recorded() -> None:
    """Regenerate the committed bodies (run by hand when the shapes change)."""
    STREAM_200.write_text(sse_stream(200), encoding="utf-8")
    TOOLS_SSE.write_text(sse_tools(), encoding="utf-8")
    RESPONSES_JSON.write_text(
        json.dumps(responses_json(), separators=(",", ":"), ensure_ascii=False), encoding="utf-8"
    )
    RESPONSES_200.write_text(responses_sse(200), encoding="utf-8")


if __name__ == "__main__":
    write_recorded()
