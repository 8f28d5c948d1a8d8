"""Figure 7: resident memory while streaming a 1,000,000-token answer (flat is the goal).

Each contender runs in its own interpreter and consumes the stream chunk by chunk, keeping nothing
itself; RSS is sampled at every tenth of the stream. Growth = RSS at the end - RSS at the first
tenth: what the client keeps per token. A contender that cannot finish within the time budget is
stopped there, and its row says how far it got (its growth so far is still reported).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks import clients
from benchmarks.child import peak_rss_mb, rss_mb, run_child
from benchmarks.harness import OK, UNAVAILABLE, Column, Figure, Row, Settings
from benchmarks.servers import Server

TOKENS = 1_000_000
SMOKE_TOKENS = 5_000
FLAT_MB = 16.0  # growth under this over the stream counts as flat (1M tokens of text are ~6 MiB)

Stream = Callable[[], Iterator[Any]]


def _raw_httpx(base: str) -> Stream:
    from benchmarks.fig_stream import sse_contents

    client, body = clients.httpx_client(), clients.payload(stream=True)

    def stream() -> Iterator[Any]:
        with client.stream("POST", f"{base}/chat/completions", json=body, timeout=600) as answer:
            answer.raise_for_status()
            yield from sse_contents(answer.iter_lines())

    return stream


def _hf_client(base: str) -> Stream:
    client, body = clients.hf_client(base), clients.payload(stream=True)
    return lambda: iter(client.stream("POST", "chat/completions", json=body, timeout=600))


def _chat_service(base: str) -> Stream:
    service = clients.chat_service(base)
    return lambda: iter(service.stream(clients.MESSAGES, {}))


def _langchain(factory: Callable[[str], Any]) -> Callable[[str], Stream]:
    def make(base: str) -> Stream:
        model, messages = factory(base), clients.lc_messages()
        return lambda: model.stream(messages)

    return make


def _llama_index(factory: Callable[[str], Any]) -> Callable[[str], Stream]:
    def make(base: str) -> Stream:
        llm, messages = factory(base), clients.li_messages()
        return lambda: llm.stream_chat(messages)

    return make


def _inference_client(base: str) -> Stream:
    client = clients.inference_client(base)
    return lambda: client.chat_completion(clients.MESSAGES, model="bench", stream=True)


LC_FLOOR = "LangChain floor: FakeListChatModel.stream"


def _fake_list(tokens: int) -> Stream:
    model, messages = clients.fake_list_chat_model("x" * tokens), clients.lc_messages()
    return lambda: model.stream(messages)  # one chunk per character, no I/O


CONTENDERS: dict[str, tuple[str, str, Callable[[str], Stream]]] = {
    LC_FLOOR: ("floor", "langchain", lambda _base: _fake_list(0)),  # built with the size in child()
    "raw httpx.Client.stream": ("raw", "transport", _raw_httpx),
    "hfbridge HFClient.stream": ("hfbridge", "transport", _hf_client),
    "hfbridge ChatService.stream": ("hfbridge", "transport", _chat_service),
    "hfbridge ChatHF.stream": ("hfbridge", "langchain", _langchain(clients.chat_hf)),
    "hfbridge HFLLM.stream_chat": ("hfbridge", "llama_index", _llama_index(clients.hf_llm)),
    "ChatHuggingFace.stream": ("anchor", "langchain", _langchain(clients.chat_huggingface)),
    "ChatOpenAI.stream": ("anchor", "langchain", _langchain(clients.chat_openai)),
    "HuggingFaceInferenceAPI.stream_chat": (
        "anchor",
        "llama_index",
        _llama_index(clients.hf_inference_api),
    ),
    "InferenceClient.chat_completion(stream)": ("anchor", "hub", _inference_client),
}


def child(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Child side: stream ``tokens`` chunks, sampling RSS every tenth; stop at ``budget`` s."""
    tokens, budget = args["tokens"], args["budget"]
    stream = _fake_list(tokens) if name == LC_FLOOR else CONTENDERS[name][2](args["base"])
    step = max(1, tokens // 10)
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    count = 0
    start = time.perf_counter()
    finished = True
    for _chunk in stream():
        count += 1
        if count % step == 0:
            samples.append((count, rss_mb()))
            if count < tokens and time.perf_counter() - start > budget:
                finished = False
                break
    peak = peak_rss_mb()  # before the stream is released: what it kept is still held
    return {
        "status": OK,
        "samples": samples,
        "after_mb": rss_mb(),
        "chunks": count,
        "finished": finished,
        "seconds": time.perf_counter() - start,
        "peak_mb": peak,
    }


def run(server: Server, settings: Settings) -> Figure:
    tokens = SMOKE_TOKENS if settings.smoke else server.big_tokens
    budget = 10.0 if settings.smoke else 40.0
    figure = Figure(
        key="memory",
        title=f"7. Memory while streaming {tokens:,} tokens",
        columns=[
            Column("kib_per_1k", "growth KiB / 1k chunks", "KiB"),
            Column("growth_mb", "RSS growth MiB", "MiB"),
            Column("start_mb", "RSS at 1/10 MiB", "MiB"),
            Column("peak_mb", "peak RSS MiB", "MiB"),
            Column("us_chunk", "us/chunk", "us"),
        ],
        primary="kib_per_1k",
        params={"tokens": tokens, "budget_s": budget, "flat_below_mb": FLAT_MB},
        extra={"ratios": False},  # growths near zero make ratios meaningless
        notes=[
            (
                f"One run per contender (memory is not noisy); each stops after {budget:.0f} s if "
                "the stream is not done, and its row says how far it got."
            ),
        ],
    )
    for name, (group, family, _factory) in CONTENDERS.items():
        row = Row(name, group, family)
        figure.rows.append(row)
        args = {"base": server.base("big"), "tokens": tokens, "budget": budget}
        result = run_child("fig_memory", name, args, timeout=budget * 3 + 60)
        if result["status"] != OK:
            row.status, row.detail = result["status"], result["detail"]
            if row.status == UNAVAILABLE and group == "hfbridge":
                row.detail = f"not available yet ({row.detail})"
            continue
        samples = result["samples"]
        first = samples[1][1] if len(samples) > 2 else samples[0][1]
        growth = samples[-1][1] - first
        counted = samples[-1][0] - (samples[1][0] if len(samples) > 2 else 0)
        row.record("growth_mb", [growth])
        row.record("kib_per_1k", [growth * 1024 / max(1, counted) * 1000])
        row.record("start_mb", [first])
        row.record("peak_mb", [result["peak_mb"]])
        row.record("us_chunk", [result["seconds"] * 1e6 / max(1, result["chunks"])])
        figure.extra.setdefault("series", {})[name] = samples
        if not result["finished"]:
            row.detail = (
                f"stopped after {result['chunks']:,} of {tokens:,} chunks ({budget:.0f} s budget)"
            )
    return figure
