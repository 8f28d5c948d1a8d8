"""The bodies the benchmark server sends: recorded ones, and large ones generated at run time.

The recorded bodies in ``benchmarks/bodies/`` follow llama.cpp ``llama-server``'s OpenAI-compatible
output (chunk fields, a role chunk first, a finish chunk, then a usage chunk with no choices, then
``[DONE]``). Long streams repeat the recorded chunk shape, so that only their length differs; they
are written into the server's temporary directory, never into the repository.
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


def write_recorded() -> None:
    """Regenerate the committed bodies (run by hand when the shapes change)."""
    STREAM_200.write_text(sse_stream(200), encoding="utf-8")
    TOOLS_SSE.write_text(sse_tools(), encoding="utf-8")


if __name__ == "__main__":
    write_recorded()
