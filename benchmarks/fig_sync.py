"""Figure 1: one synchronous chat call, microseconds per call (non-streamed, same request)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from benchmarks import bodies, clients
from benchmarks.harness import (
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

RAW = "raw httpx.Client + json.loads"
LC_FLOOR = "LangChain floor: FakeListChatModel"
LI_FLOOR = "LlamaIndex floor: MockLLM"

Op = tuple[Callable[[], Any], Any]  # the call and the content it must return (None: not checked)


def contenders(server: Server) -> list[Contender]:
    base = server.base()
    url = f"{base}/chat/completions"
    content = bodies.chat_content()

    def fake_list() -> Op:
        model, messages = clients.fake_list_chat_model(content), clients.lc_messages()
        return (lambda: model.invoke(messages).content), content

    def generic_fake() -> Op:
        model, messages = clients.generic_fake_chat_model(content), clients.lc_messages()
        return (lambda: model.invoke(messages).content), content

    def mock_llm() -> Op:
        model, messages = clients.mock_llm(), clients.li_messages()
        return (lambda: model.chat(messages).message.content), None

    def raw_httpx() -> Op:
        client, body = clients.httpx_client(), clients.payload()

        def call() -> str:
            answer = client.post(url, json=body)
            answer.raise_for_status()
            return json.loads(answer.content)["choices"][0]["message"]["content"]

        return call, content

    def hf_client() -> Op:
        client, body = clients.hf_client(base), clients.payload()
        return (
            lambda: client.request("POST", "chat/completions", json=body).json()["choices"][0][
                "message"
            ]["content"]
        ), content

    def chat_service() -> Op:
        service = clients.chat_service(base)
        return (
            lambda: service.complete(clients.MESSAGES, {}).completion.choices[0].content
        ), content

    def langchain_model(factory: Callable[[str], Any]) -> Callable[[], Op]:
        def make() -> Op:
            model, messages = factory(base), clients.lc_messages()
            return (lambda: model.invoke(messages).content), content

        return make

    def responses_model(factory: Callable[[str], Any]) -> Callable[[], Op]:
        # a Responses message's content may be a list of blocks (langchain-openai): .text joins it
        def make() -> Op:
            model, messages = factory(base), clients.lc_messages()
            return (lambda: model.invoke(messages).text), content

        return make

    def llama_index_llm(factory: Callable[[str], Any]) -> Callable[[], Op]:
        def make() -> Op:
            llm, messages = factory(base), clients.li_messages()
            return (lambda: llm.chat(messages).message.content), content

        return make

    def inference_client() -> Op:
        client = clients.inference_client(base)
        return (
            lambda: (
                client.chat_completion(clients.MESSAGES, model="bench").choices[0].message.content
            )
        ), content

    return [
        Contender(LC_FLOOR, "floor", "langchain", fake_list),
        Contender("LangChain floor: GenericFakeChatModel", "floor", "langchain", generic_fake),
        Contender(LI_FLOOR, "floor", "llama_index", mock_llm),
        Contender(RAW, "raw", "transport", raw_httpx),
        Contender("hfbridge HFClient.request", "hfbridge", "transport", hf_client),
        Contender("hfbridge ChatService.complete", "hfbridge", "transport", chat_service),
        Contender(
            "hfbridge ChatHF.invoke", "hfbridge", "langchain", langchain_model(clients.chat_hf)
        ),
        Contender(
            "hfbridge ChatHF.invoke (Responses API)",
            "hfbridge",
            "langchain",
            responses_model(clients.chat_hf_responses),
        ),
        Contender(
            "hfbridge HFLLM.chat", "hfbridge", "llama_index", llama_index_llm(clients.hf_llm)
        ),
        Contender(
            "ChatHuggingFace.invoke",
            "anchor",
            "langchain",
            langchain_model(clients.chat_huggingface),
        ),
        Contender("ChatOpenAI.invoke", "anchor", "langchain", langchain_model(clients.chat_openai)),
        Contender(
            "ChatOpenAI(use_responses_api=True).invoke",
            "anchor",
            "langchain",
            responses_model(clients.chat_openai_responses),
        ),
        Contender(
            "HuggingFaceInferenceAPI.chat",
            "anchor",
            "llama_index",
            llama_index_llm(clients.hf_inference_api),
        ),
        Contender("InferenceClient.chat_completion", "anchor", "hub", inference_client),
    ]


def run(server: Server, settings: Settings) -> Figure:
    figure = Figure(
        key="sync",
        title="1. Sync chat call",
        columns=[Column("us_per_call", "us/call", "us")],
        primary="us_per_call",
        params={
            "request": "POST /v1/chat/completions, non-streamed, recorded llama.cpp answer",
            "responses": "POST /v1/responses, the same text in the router's response shape",
        },
    )
    built: list[tuple[Row, Any]] = []
    counts: dict[str, int] = {}
    for contender in contenders(server):
        row, op = build(contender)
        figure.rows.append(row)
        if op is None:
            continue
        call, expected = op
        try:
            if expected is not None and not check(row, call(), expected):
                continue
            counts[row.name] = calibrate(call, settings)
        except Exception as exc:
            row.fail(exc)
            continue
        built.append((row, call))

    samples: dict[str, list[float]] = {}

    def measure(row: Row, call: Callable[[], Any], _rep: int) -> None:
        samples.setdefault(row.name, []).append(time_calls(call, counts[row.name]) * 1e6)

    interleaved(built, settings, measure)
    for row, _ in built:
        if row.name in samples and row.status == "ok":
            row.record("us_per_call", samples[row.name])
    set_floors(figure, RAW, {"langchain": LC_FLOOR, "llama_index": LI_FLOOR})
    return figure
