"""Each adapter call a recording is replayed through, reading back an :class:`Outcome`.

One function per adapter; each takes the mode (sync, async, stream, async stream) and returns what
the framework object reported, in the oracle's terms. Which calls a recording gets depends on its
kind (see :data:`CALLS`).
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

import httpx
from langchain_core.messages import AIMessage
from tests.replay.harness import SELF_HOSTED, Outcome, Setup, capture, run, usage_list

from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding

PROMPT = "What is deep learning?"
CHAT_FIELDS = frozenset(
    {"text", "reasoning", "finish_reason", "native_finish_reason", "usage", "tool_calls",
     "request_id", "provider", "cost"}
)  # fmt: skip


# --- LangChain ChatHF -----------------------------------------------------------------------------


def _chat_hf(setup: Setup) -> ChatHF:
    base = None if setup.path == "router" else f"{SELF_HOSTED}/v1"
    return ChatHF(
        model=setup.model, base_url=base, max_retries=0,
        transport=httpx.MockTransport(setup.gateway), catalog=setup.catalog(),
    )  # fmt: skip


def _from_ai_message(message: AIMessage) -> Outcome:
    metadata = message.response_metadata
    usage = message.usage_metadata
    return Outcome(
        text=message.content if isinstance(message.content, str) else str(message.content),
        reasoning=message.additional_kwargs.get("reasoning_content"),
        finish_reason=metadata.get("finish_reason"),
        native_finish_reason=metadata.get("native_finish_reason"),
        usage=usage_list(usage["input_tokens"], usage["output_tokens"], usage["total_tokens"])
        if usage
        else None,
        tool_calls=[
            {"id": call["id"], "name": call["name"], "arguments": call["args"]}
            for call in message.tool_calls
        ],
        request_id=metadata.get("request_id"),
        provider=metadata.get("provider"),
        cost=metadata.get("cost_usd"),
        exposes=CHAT_FIELDS,
    )


def chat_hf(setup: Setup, mode: str) -> Outcome:
    """ChatHF.invoke / ainvoke / stream / astream (streamed chunks merged as LangChain does)."""

    def call() -> Outcome:
        llm = _chat_hf(setup)
        messages = [("user", PROMPT)]
        if mode == "sync":
            return _from_ai_message(llm.invoke(messages))
        if mode == "async":
            return _from_ai_message(run(llm.ainvoke(messages)))
        if mode == "stream":
            return _from_ai_message(reduce(operator.add, llm.stream(messages)))

        async def collect() -> list[Any]:
            return [chunk async for chunk in llm.astream(messages)]

        return _from_ai_message(reduce(operator.add, run(collect())))

    return capture(call)


# --- LlamaIndex HFLLM -----------------------------------------------------------------------------


def _hf_llm(setup: Setup) -> HFLLM:
    base = None if setup.path == "router" else f"{SELF_HOSTED}/v1"
    return HFLLM(model=setup.model, base_url=base, catalog=setup.catalog(), **setup.clients(base))


def _from_chat_responses(llm: HFLLM, responses: list[Any]) -> Outcome:
    from llama_index.core.base.llms.types import ThinkingBlock

    last = responses[-1]
    kwargs: dict[str, Any] = {}
    for response in responses:  # streamed responses carry each value on the chunk that had it
        kwargs.update({k: v for k, v in response.additional_kwargs.items() if v is not None})
    thinking = "".join(
        block.content or "" for block in last.message.blocks if isinstance(block, ThinkingBlock)
    )
    calls = llm.get_tool_calls_from_response(last, error_on_no_tool_call=False)
    return Outcome(
        text=last.message.content or "",
        reasoning=thinking or None,
        finish_reason=kwargs.get("finish_reason"),
        native_finish_reason=kwargs.get("native_finish_reason"),
        usage=usage_list(
            kwargs.get("prompt_tokens"), kwargs.get("completion_tokens"), kwargs.get("total_tokens")
        ),
        tool_calls=[
            {"id": call.tool_id, "name": call.tool_name, "arguments": call.tool_kwargs}
            for call in calls
        ],
        request_id=kwargs.get("request_id"),
        provider=kwargs.get("provider"),
        cost=kwargs.get("cost_usd"),
        exposes=CHAT_FIELDS,
    )


def hf_llm(setup: Setup, mode: str) -> Outcome:
    """HFLLM.chat / achat / stream_chat / astream_chat."""
    from llama_index.core.base.llms.types import ChatMessage

    def call() -> Outcome:
        llm = _hf_llm(setup)
        messages = [ChatMessage(role="user", content=PROMPT)]
        if mode == "sync":
            return _from_chat_responses(llm, [llm.chat(messages)])
        if mode == "async":
            return _from_chat_responses(llm, [run(llm.achat(messages))])
        if mode == "stream":
            return _from_chat_responses(llm, list(llm.stream_chat(messages)))

        async def collect() -> list[Any]:
            return [response async for response in await llm.astream_chat(messages)]

        return _from_chat_responses(llm, run(collect()))

    return capture(call)


# --- LangChain HFTextGen --------------------------------------------------------------------------


def _text_gen(setup: Setup) -> HFTextGen:
    kind, router = setup.recording["kind"], setup.path == "router"
    settings: dict[str, Any] = {"max_retries": 0}
    if kind.startswith("chat"):
        settings.update(api="chat", base_url=None if router else f"{SELF_HOSTED}/v1")
        model = setup.model
    elif kind == "completions":
        settings.update(api="completions", base_url=None if router else f"{SELF_HOSTED}/v1")
        model = f"{setup.recording['model']}:hf-inference" if router else setup.model
    else:  # generate, generate-stream: TGI at base_url, the hf-inference task on the router
        settings.update(api="hf-inference" if router else "tgi",
                        base_url=None if router else SELF_HOSTED)  # fmt: skip
        model = f"{setup.recording['model']}:hf-inference" if router else setup.model
    clients = setup.clients(settings["base_url"])
    return HFTextGen(model=model, catalog=setup.catalog(), **settings, **clients)


def _from_generation(text: str, info: dict[str, Any] | None) -> Outcome:
    info = info or {}
    usage = info.get("token_usage") or {}
    return Outcome(
        text=text,
        finish_reason=info.get("finish_reason"),
        native_finish_reason=info.get("native_finish_reason"),
        usage=usage_list(
            usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
        ),
        request_id=info.get("request_id"),
        provider=info.get("provider"),
        exposes=frozenset(
            {"text", "finish_reason", "native_finish_reason", "usage", "request_id", "provider"}
        ),
    )


def text_gen(setup: Setup, mode: str) -> Outcome:
    """HFTextGen.generate / agenerate (text and generation_info) / stream / astream (text)."""

    def call() -> Outcome:
        llm = _text_gen(setup)
        if mode in ("sync", "async"):
            result = llm.generate([PROMPT]) if mode == "sync" else run(llm.agenerate([PROMPT]))
            generation = result.generations[0][0]
            return _from_generation(generation.text, generation.generation_info)
        # LangChain's stream() hands out text only; _stream() is the hook it reads, whose last
        # chunk carries the generation_info.
        if mode == "stream":
            chunks = list(llm._stream(PROMPT))
        else:

            async def collect() -> list[Any]:
                return [chunk async for chunk in llm._astream(PROMPT)]

            chunks = run(collect())
        return _from_generation("".join(c.text for c in chunks), chunks[-1].generation_info)

    return capture(call)


# --- embeddings -----------------------------------------------------------------------------------


def _embedding_settings(setup: Setup) -> dict[str, Any]:
    kind, router = setup.recording["kind"], setup.path == "router"
    model = setup.recording["model"]
    if kind == "embeddings-feature":
        if router:
            return {"model": f"{model}:hf-inference", "base_url": None}
        return {"model": model, "base_url": f"{SELF_HOSTED}/embed", "api": "feature-extraction"}
    if router:  # an OpenAI-style provider route of the router
        return {"model": f"{model}:together", "base_url": None}
    return {"model": model, "base_url": f"{SELF_HOSTED}/v1", "api": "openai"}


def hf_embeddings(setup: Setup, mode: str) -> Outcome:
    """HFEmbeddings.embed_documents / aembed_documents / embed_query / aembed_query."""

    def call() -> Outcome:
        settings = _embedding_settings(setup)
        llm = HFEmbeddings(max_retries=0, **settings, **setup.clients(settings["base_url"]))
        if mode == "sync":
            vectors = llm.embed_documents([PROMPT])
        elif mode == "async":
            vectors = run(llm.aembed_documents([PROMPT]))
        elif mode == "stream":  # no stream for embeddings: the query forms instead
            vectors = [llm.embed_query(PROMPT)]
        else:
            vectors = [run(llm.aembed_query(PROMPT))]
        return Outcome(vectors=vectors, exposes=frozenset({"vectors"}))

    return capture(call)


def hf_embedding(setup: Setup, mode: str) -> Outcome:
    """LlamaIndex HFEmbedding.get_text_embedding / aget_text_embedding / the query forms."""

    def call() -> Outcome:
        settings = _embedding_settings(setup)
        llm = HFEmbedding(max_retries=0, **settings, **setup.clients(settings["base_url"]))
        if mode == "sync":
            vector = llm.get_text_embedding(PROMPT)
        elif mode == "async":
            vector = run(llm.aget_text_embedding(PROMPT))
        elif mode == "stream":
            vector = llm.get_query_embedding(PROMPT)
        else:
            vector = run(llm.aget_query_embedding(PROMPT))
        return Outcome(vectors=[vector], exposes=frozenset({"vectors"}))

    return capture(call)


CALLS = {
    "chat": (chat_hf, hf_llm, text_gen),
    "chat-stream": (chat_hf, hf_llm, text_gen),
    "completions": (text_gen,),
    "generate": (text_gen,),
    "generate-stream": (text_gen,),
    "embeddings-feature": (hf_embeddings, hf_embedding),
    "embeddings-openai": (hf_embeddings, hf_embedding),
}
"""The adapters each kind of recording is replayed through."""
MODES = {
    "chat": ("sync", "async"),
    "chat-stream": ("stream", "astream"),
    "completions": ("sync", "async"),
    "generate": ("sync", "async"),
    "generate-stream": ("stream", "astream"),
    "embeddings-feature": ("sync", "async", "stream", "astream"),
    "embeddings-openai": ("sync", "async", "stream", "astream"),
}
"""The modes matching the recorded request: a stream answer is replayed to stream calls."""
