"""Figure 3: one streamed chat call of 200 and of 5,000 chunks, ms per stream and us per chunk.

Every contender consumes the whole stream and hands back the text it assembled, which must equal
the recorded text: a fast wrong answer is no result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks import bodies, clients
from benchmarks.harness import (
    OK,
    Column,
    Contender,
    Figure,
    Row,
    Settings,
    build,
    calibrate,
    check,
    interleaved,
    set_floors,
    time_calls,
)
from benchmarks.servers import Server

SIZES = (200, 5000)
RAW = "raw httpx.Client.stream + json.loads"
LC_FLOOR = "LangChain floor: FakeListChatModel.stream"
LI_FLOOR = "LlamaIndex floor: MockLLM.stream_chat"

StreamOp = Callable[[int], tuple[Callable[[], Any], Any, int]]  # size -> call, expected, chunks


def sse_contents(lines: Iterator[str]) -> Iterator[str]:
    """The content deltas of an OpenAI-style SSE body, parsed the plainest way."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        for choice in event.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content


def variant(size: int) -> str:
    return "s200" if size == 200 else "s5000"


def contenders(server: Server) -> list[Contender]:
    def network(make_call: Callable[[str], Callable[[], str]]) -> Callable[[], StreamOp]:
        def make() -> StreamOp:
            make_call(server.base())  # import and build now: a missing library fails here

            def op(size: int) -> tuple[Callable[[], Any], Any, int]:
                return make_call(server.base(variant(size))), bodies.stream_text(size), size

            return op

        return make

    def raw_httpx(base: str) -> Callable[[], str]:
        client, body, url = (
            clients.httpx_client(),
            clients.payload(stream=True),
            f"{base}/chat/completions",
        )

        def call() -> str:
            with client.stream("POST", url, json=body) as answer:
                answer.raise_for_status()
                return "".join(sse_contents(answer.iter_lines()))

        return call

    def hf_client(base: str) -> Callable[[], str]:
        client, body = clients.hf_client(base), clients.payload(stream=True)

        def call() -> str:
            parts = []
            for event in client.stream("POST", "chat/completions", json=body):
                for choice in event.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        parts.append(content)
            return "".join(parts)

        return call

    def chat_service(base: str) -> Callable[[], str]:
        service = clients.chat_service(base)
        return lambda: "".join(d.content for d in service.stream(clients.MESSAGES, {}))

    def langchain_model(factory: Callable[[str], Any]) -> Callable[[str], Callable[[], str]]:
        def make(base: str) -> Callable[[], str]:
            model, messages = factory(base), clients.lc_messages()
            return lambda: "".join(str(chunk.content) for chunk in model.stream(messages))

        return make

    def responses_model(factory: Callable[[str], Any]) -> Callable[[str], Callable[[], str]]:
        # Responses chunks may carry content blocks (langchain-openai): .text joins them
        def make(base: str) -> Callable[[], str]:
            model, messages = factory(base), clients.lc_messages()
            return lambda: "".join(chunk.text for chunk in model.stream(messages))

        return make

    def llama_index_llm(factory: Callable[[str], Any]) -> Callable[[str], Callable[[], str]]:
        def make(base: str) -> Callable[[], str]:
            llm, messages = factory(base), clients.li_messages()
            return lambda: "".join(r.delta or "" for r in llm.stream_chat(messages))

        return make

    def inference_client(base: str) -> Callable[[], str]:
        client = clients.inference_client(base)

        def call() -> str:
            parts = []
            for chunk in client.chat_completion(clients.MESSAGES, model="bench", stream=True):
                parts.extend(c.delta.content for c in chunk.choices or () if c.delta.content)
            return "".join(parts)

        return call

    def fake_list() -> StreamOp:
        messages = clients.lc_messages()

        def op(size: int) -> tuple[Callable[[], Any], Any, int]:
            text = "x" * size  # FakeListChatModel streams one chunk per character
            model = clients.fake_list_chat_model(text)
            return (lambda: "".join(str(c.content) for c in model.stream(messages))), text, size

        return op

    def mock_llm() -> StreamOp:
        from llama_index.core.llms import ChatMessage

        llm = clients.mock_llm()

        def op(size: int) -> tuple[Callable[[], Any], Any, int]:
            # MockLLM streams its prompt back one character per chunk (its max_tokens mode builds
            # every partial text anew, quadratic in the length: not a floor).
            messages = [ChatMessage(role="user", content="x" * size)]
            count = sum(1 for _ in llm.stream_chat(messages))
            return (lambda: sum(1 for _ in llm.stream_chat(messages))), count, count

        return op

    return [
        Contender(LC_FLOOR, "floor", "langchain", fake_list),
        Contender(LI_FLOOR, "floor", "llama_index", mock_llm),
        Contender(RAW, "raw", "transport", network(raw_httpx)),
        Contender("hfbridge HFClient.stream", "hfbridge", "transport", network(hf_client)),
        Contender("hfbridge ChatService.stream", "hfbridge", "transport", network(chat_service)),
        Contender(
            "hfbridge ChatHF.stream",
            "hfbridge",
            "langchain",
            network(langchain_model(clients.chat_hf)),
        ),
        Contender(
            "hfbridge ChatHF.stream (Responses API)",
            "hfbridge",
            "langchain",
            network(responses_model(clients.chat_hf_responses)),
        ),
        Contender(
            "hfbridge HFLLM.stream_chat",
            "hfbridge",
            "llama_index",
            network(llama_index_llm(clients.hf_llm)),
        ),
        Contender(
            "ChatHuggingFace.stream",
            "anchor",
            "langchain",
            network(langchain_model(clients.chat_huggingface)),
        ),
        Contender(
            "ChatOpenAI.stream",
            "anchor",
            "langchain",
            network(langchain_model(clients.chat_openai)),
        ),
        Contender(
            "ChatOpenAI(use_responses_api=True).stream",
            "anchor",
            "langchain",
            network(responses_model(clients.chat_openai_responses)),
        ),
        Contender(
            "HuggingFaceInferenceAPI.stream_chat",
            "anchor",
            "llama_index",
            network(llama_index_llm(clients.hf_inference_api)),
        ),
        Contender(
            "InferenceClient.chat_completion(stream)", "anchor", "hub", network(inference_client)
        ),
    ]


def run(server: Server, settings: Settings) -> Figure:
    columns = []
    for size in SIZES:
        columns.append(Column(f"ms_{size}", f"ms/stream ({size:,})", "ms"))
        columns.append(Column(f"us_chunk_{size}", f"us/chunk ({size:,})", "us"))
    figure = Figure(
        key="stream",
        title="3. Streamed chat call",
        columns=columns,
        primary="us_chunk_200",
        params={
            "chunks": list(SIZES),
            "body": "recorded llama.cpp chunk shape, content deltas",
            "responses": "the same text as router Responses events, one text delta per chunk",
        },
    )
    built: list[tuple[Row, Any]] = []
    for contender in contenders(server):
        row, op = build(contender)
        figure.rows.append(row)
        if op is None:
            continue
        prepared = {}
        try:
            for size in SIZES:
                call, expected, chunks = op(size)
                if not check(row, call(), expected):
                    break
                prepared[size] = (call, chunks, calibrate(call, settings, minimum=2))
        except Exception as exc:
            row.fail(exc)
        if row.status == OK:
            built.append((row, prepared))

    samples: dict[tuple[str, int], list[float]] = {}

    def measure(row: Row, prepared: Any, _rep: int) -> None:
        for size, (call, _chunks, count) in prepared.items():
            samples.setdefault((row.name, size), []).append(time_calls(call, count))

    interleaved(built, settings, measure)
    for row, prepared in built:
        if row.status != OK:
            continue
        for size, (_call, chunks, _count) in prepared.items():
            seconds = samples[(row.name, size)]
            row.record(f"ms_{size}", [s * 1e3 for s in seconds])
            row.record(f"us_chunk_{size}", [s * 1e6 / chunks for s in seconds])
    for size in SIZES:
        set_floors(
            figure, RAW, {"langchain": LC_FLOOR, "llama_index": LI_FLOOR}, column=f"us_chunk_{size}"
        )
    return figure
