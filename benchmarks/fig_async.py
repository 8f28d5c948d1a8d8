"""Figure 2: async chat calls, requests per second with 1, 16, 64 and 256 requests in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import bodies, clients
from benchmarks.harness import (
    FAILED,
    Column,
    Contender,
    Figure,
    Row,
    Settings,
    build,
    check,
    describe,
    set_floors,
    throughput,
)
from benchmarks.servers import Server

LEVELS = (1, 16, 64, 256)
SMOKE_LEVELS = (1, 16)  # the smoke run proves the code path; 256 in flight of a slow anchor takes s
RAW = "raw aiohttp"
LC_FLOOR = "LangChain floor: FakeListChatModel"
LI_FLOOR = "LlamaIndex floor: MockLLM"

Call = Callable[[], Awaitable[Any]]
Close = Callable[[], Awaitable[Any]]
Setup = Callable[[], Awaitable[tuple[Call, Close, Any]]]  # call, close, expected content


async def _noop() -> None:
    return None


def contenders(server: Server) -> list[Contender]:
    base = server.base()
    url = f"{base}/chat/completions"
    content = bodies.chat_content()
    body = clients.payload()

    def fake_list() -> Setup:
        model, messages = clients.fake_list_chat_model(content), clients.lc_messages()

        async def setup() -> tuple[Call, Close, Any]:
            async def call() -> str:
                return (await model.ainvoke(messages)).content

            return call, _noop, content

        return setup

    def mock_llm() -> Setup:
        model, messages = clients.mock_llm(), clients.li_messages()

        async def setup() -> tuple[Call, Close, Any]:
            async def call() -> str:
                return (await model.achat(messages)).message.content

            return call, _noop, None

        return setup

    def raw_aiohttp() -> Setup:
        import aiohttp  # noqa: F401 - fail at build time when missing

        async def setup() -> tuple[Call, Close, Any]:
            session = clients.aiohttp_session()

            async def call() -> str:
                async with session.post(url, json=body) as answer:
                    answer.raise_for_status()
                    return json.loads(await answer.read())["choices"][0]["message"]["content"]

            return call, session.close, content

        return setup

    def raw_httpx(factory: Callable[[], Any]) -> Callable[[], Setup]:
        def make() -> Setup:
            async def setup() -> tuple[Call, Close, Any]:
                client = factory()

                async def call() -> str:
                    answer = await client.post(url, json=body)
                    answer.raise_for_status()
                    return json.loads(answer.content)["choices"][0]["message"]["content"]

                return call, client.aclose, content

            factory().__class__  # noqa: B018 - import (and fail) at build time
            return setup

        return make

    def hf_async_client() -> Setup:
        client = clients.hf_async_client(base)

        async def setup() -> tuple[Call, Close, Any]:
            async def call() -> str:
                answer = await client.request("POST", "chat/completions", json=body)
                return answer.json()["choices"][0]["message"]["content"]

            return call, client.aclose, content

        return setup

    def chat_service() -> Setup:
        service = clients.chat_service(base)

        async def setup() -> tuple[Call, Close, Any]:
            async def call() -> str:
                result = await service.acomplete(clients.MESSAGES, {})
                return result.completion.choices[0].content

            return call, _noop, content

        return setup

    def langchain_model(factory: Callable[[str], Any]) -> Callable[[], Setup]:
        def make() -> Setup:
            factory(base)  # import and build once outside the loop: fail early when missing

            async def setup() -> tuple[Call, Close, Any]:
                model, messages = factory(base), clients.lc_messages()

                async def call() -> str:
                    return (await model.ainvoke(messages)).content

                return call, _noop, content

            return setup

        return make

    def llama_index_llm(factory: Callable[[str], Any]) -> Callable[[], Setup]:
        def make() -> Setup:
            factory(base)

            async def setup() -> tuple[Call, Close, Any]:
                llm, messages = factory(base), clients.li_messages()

                async def call() -> str:
                    return (await llm.achat(messages)).message.content

                return call, _noop, content

            return setup

        return make

    def async_inference_client() -> Setup:
        clients.async_inference_client(base)

        async def setup() -> tuple[Call, Close, Any]:
            client = clients.async_inference_client(base)

            async def call() -> str:
                answer = await client.chat_completion(clients.MESSAGES, model="bench")
                return answer.choices[0].message.content

            return call, client.close, content

        return setup

    return [
        Contender(LC_FLOOR, "floor", "langchain", fake_list),
        Contender(LI_FLOOR, "floor", "llama_index", mock_llm),
        Contender(
            "raw httpx.AsyncClient", "raw", "transport", raw_httpx(clients.httpx_async_client)
        ),
        Contender(
            "raw httpx over httpx-aiohttp",
            "raw",
            "transport",
            raw_httpx(clients.httpx_over_aiohttp_client),
        ),
        Contender(RAW, "raw", "transport", raw_aiohttp),
        Contender("hfbridge AsyncHFClient.request", "hfbridge", "transport", hf_async_client),
        Contender("hfbridge ChatService.acomplete", "hfbridge", "transport", chat_service),
        Contender(
            "hfbridge ChatHF.ainvoke", "hfbridge", "langchain", langchain_model(clients.chat_hf)
        ),
        Contender(
            "hfbridge HFLLM.achat", "hfbridge", "llama_index", llama_index_llm(clients.hf_llm)
        ),
        Contender(
            "ChatHuggingFace.ainvoke",
            "anchor",
            "langchain",
            langchain_model(clients.chat_huggingface),
        ),
        Contender(
            "ChatOpenAI.ainvoke", "anchor", "langchain", langchain_model(clients.chat_openai)
        ),
        Contender(
            "HuggingFaceInferenceAPI.achat",
            "anchor",
            "llama_index",
            llama_index_llm(clients.hf_inference_api),
        ),
        Contender("AsyncInferenceClient.chat_completion", "anchor", "hub", async_inference_client),
    ]


async def _measure(row: Row, setup: Setup, settings: Settings, levels: tuple[int, ...]) -> None:
    call, close, expected = await setup()
    try:
        got = await call()
        if expected is not None and not check(row, got, expected):
            return
        for level in levels:
            if not settings.smoke:
                await throughput(call, level, settings.warmup_seconds)  # opens the connections
            samples = [
                await throughput(call, level, settings.async_seconds) for _ in range(settings.reps)
            ]
            row.record(f"c{level}", samples)
    finally:
        await close()


def run(server: Server, settings: Settings) -> Figure:
    figure = Figure(
        key="async",
        title="2. Async chat calls",
        columns=[Column(f"c{n}", f"req/s @{n}", "req/s", "higher") for n in LEVELS],
        primary="c64",
        params={
            "in_flight": list(LEVELS),
            "loop": "asyncio (default policy)",
            "raw pools": f"{clients.RAW_LIMIT} connections",
        },
    )
    levels = SMOKE_LEVELS if settings.smoke else LEVELS
    for contender in contenders(server):
        row, setup = build(contender)
        figure.rows.append(row)
        if setup is None:
            continue
        try:
            asyncio.run(_measure(row, setup, settings, levels))
        except Exception as exc:
            row.status, row.detail = FAILED, describe(exc)
    for level in LEVELS:
        set_floors(
            figure,
            RAW,
            {"langchain": LC_FLOOR, "llama_index": LI_FLOOR},
            rate=True,
            column=f"c{level}",
        )
    return figure
