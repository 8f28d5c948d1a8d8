"""Figure 4: a streamed answer that calls two tools, arguments arriving in 3-character fragments.

Each contender streams the recorded answer and assembles the tool calls the way its users would
(LangChain: add the chunks; LlamaIndex: ``stream_chat_with_tools`` then
``get_tool_calls_from_response``; raw and hub clients: join fragments by index). The result must be
the recorded calls, names and parsed arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
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

RAW = "raw httpx.Client.stream, join by index"
Calls = list[tuple[str, Any]]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a place.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "array", "items": {"type": "integer"}},
                    "detail": {"type": "string"},
                },
                "required": ["location"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_flights",
            "description": "Search flights between two airports.",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string"},
                    "destination": {"type": "string"},
                    "date": {"type": "string"},
                    "passengers": {"type": "array", "items": {"type": "object"}},
                    "cabin": {"type": "string"},
                },
                "required": ["origin", "destination"],
            },
        },
    },
]


def expected() -> Calls:
    return [(name, args) for name, args in bodies.TOOL_CALLS]


def join_by_index(deltas: Iterable[Mapping[str, Any]]) -> Calls:
    """Assemble OpenAI-style ``tool_calls`` deltas (dicts) into (name, parsed arguments)."""
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas:
        for item in delta.get("tool_calls") or ():
            call = calls.setdefault(item.get("index", 0), {"name": "", "arguments": ""})
            function = item.get("function") or {}
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""
    return [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]


def as_dict(tool_call: Any) -> dict[str, Any]:
    """A huggingface_hub tool-call delta as the OpenAI dict shape."""
    function = tool_call.function
    return {
        "index": tool_call.index,
        "function": {"name": function.name, "arguments": function.arguments},
    }


def llama_index_tools() -> list[Any]:
    from llama_index.core.tools import FunctionTool

    def get_weather(
        location: str, unit: str = "celsius", days: list[int] | None = None, detail: str = ""
    ) -> str:
        """Weather forecast for a place."""
        return f"{location} {unit} {days} {detail}"

    def search_flights(
        origin: str,
        destination: str,
        date: str = "",
        passengers: list[dict[str, Any]] | None = None,
        cabin: str = "",
    ) -> str:
        """Search flights between two airports."""
        return f"{origin} {destination} {date} {passengers} {cabin}"

    return [
        FunctionTool.from_defaults(fn=get_weather),
        FunctionTool.from_defaults(fn=search_flights),
    ]


def contenders(server: Server) -> list[Contender]:
    base = server.base("tools")
    url = f"{base}/chat/completions"
    body = {**clients.payload(stream=True), "tools": TOOLS}

    def raw_httpx() -> Callable[[], Calls]:
        client = clients.httpx_client()

        def deltas(lines: Iterable[str]) -> Iterable[Mapping[str, Any]]:
            for line in lines:
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    for choice in json.loads(line[5:]).get("choices") or ():
                        yield choice.get("delta") or {}

        def call() -> Calls:
            with client.stream("POST", url, json=body) as answer:
                answer.raise_for_status()
                return join_by_index(deltas(answer.iter_lines()))

        return call

    def chat_service() -> Callable[[], Calls]:
        service = clients.chat_service(base)

        def call() -> Calls:
            stream = service.stream(clients.MESSAGES, {"tools": TOOLS})
            for _ in stream:
                pass
            choice = stream.result().completion.choices[0]
            return [(t.name, json.loads(t.arguments)) for t in choice.tool_calls]

        return call

    def langchain_model(factory: Callable[[str], Any]) -> Callable[[], Callable[[], Calls]]:
        def make() -> Callable[[], Calls]:
            model, messages = factory(base).bind_tools(TOOLS), clients.lc_messages()

            def call() -> Calls:
                total = None
                for chunk in model.stream(messages):
                    total = chunk if total is None else total + chunk
                return [(c["name"], c["args"]) for c in (total.tool_calls if total else [])]

            return call

        return make

    def hf_llm() -> Callable[[], Calls]:
        llm, tools = clients.hf_llm(base), llama_index_tools()

        def call() -> Calls:
            last = None
            for last in llm.stream_chat_with_tools(tools, user_msg=clients.PROMPT):  # noqa: B007
                pass
            selections = llm.get_tool_calls_from_response(last, error_on_no_tool_call=False)
            return [(s.tool_name, s.tool_kwargs) for s in selections]

        return call

    def hf_inference_api() -> Callable[[], Calls]:
        llm, messages = clients.hf_inference_api(base), clients.li_messages()

        def call() -> Calls:
            last = None
            for last in llm.stream_chat(messages, tools=TOOLS):  # noqa: B007
                pass
            found = (last.message.additional_kwargs.get("tool_calls") or []) if last else []
            return [
                (c.function.name, c.function.arguments) if hasattr(c, "function") else ("?", c)
                for c in found
            ]

        return call

    def inference_client() -> Callable[[], Calls]:
        client = clients.inference_client(base)

        def call() -> Calls:
            chunks = client.chat_completion(
                clients.MESSAGES, model="bench", stream=True, tools=TOOLS
            )
            return join_by_index(
                {"tool_calls": [as_dict(t) for t in choice.delta.tool_calls]}
                for chunk in chunks
                for choice in chunk.choices or ()
                if choice.delta.tool_calls
            )

        return call

    return [
        Contender(RAW, "raw", "transport", raw_httpx),
        Contender("hfbridge ChatService.stream + result()", "hfbridge", "transport", chat_service),
        Contender(
            "hfbridge ChatHF.bind_tools().stream",
            "hfbridge",
            "langchain",
            langchain_model(clients.chat_hf),
        ),
        Contender("hfbridge HFLLM.stream_chat_with_tools", "hfbridge", "llama_index", hf_llm),
        Contender(
            "ChatHuggingFace.bind_tools().stream",
            "anchor",
            "langchain",
            langchain_model(clients.chat_huggingface),
        ),
        Contender(
            "ChatOpenAI.bind_tools().stream",
            "anchor",
            "langchain",
            langchain_model(clients.chat_openai),
        ),
        Contender(
            "HuggingFaceInferenceAPI.stream_chat(tools)", "anchor", "llama_index", hf_inference_api
        ),
        Contender(
            "InferenceClient.chat_completion(stream, tools)", "anchor", "hub", inference_client
        ),
    ]


def run(server: Server, settings: Settings) -> Figure:
    fragments = bodies.tool_fragment_count()
    figure = Figure(
        key="tools",
        title="4. Tool-call stream assembly",
        columns=[Column("ms", "ms/stream", "ms"), Column("us_fragment", "us/fragment", "us")],
        primary="ms",
        params={"tool_calls": len(bodies.TOOL_CALLS), "argument_fragments": fragments},
        notes=["No framework floor here: ratios are to the raw client and to the anchors."],
    )
    built: list[tuple[Row, Any]] = []
    counts: dict[str, int] = {}
    for contender in contenders(server):
        row, call = build(contender)
        figure.rows.append(row)
        if call is None:
            continue
        try:
            if check(row, call(), expected()):
                counts[row.name] = calibrate(call, settings, minimum=2)
                built.append((row, call))
        except Exception as exc:
            row.fail(exc)

    samples: dict[str, list[float]] = {}

    def measure(row: Row, call: Callable[[], Calls], _rep: int) -> None:
        samples.setdefault(row.name, []).append(time_calls(call, counts[row.name]))

    interleaved(built, settings, measure)
    for row, _ in built:
        if row.status == OK:
            row.record("ms", [s * 1e3 for s in samples[row.name]])
            row.record("us_fragment", [s * 1e6 / fragments for s in samples[row.name]])
    set_floors(figure, RAW, {})
    return figure
