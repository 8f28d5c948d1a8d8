"""How each contender is built and pointed at the benchmark server.

Every builder imports its library inside, so that a missing or not-yet-written adapter only makes
its own rows "not available". The hfbridge adapters are built with the constructor arguments they
are specified to take; if they change, a row says what failed instead of disappearing.
"""

from __future__ import annotations

from typing import Any

PROMPT = "Name a French cheese."
MESSAGES = [{"role": "user", "content": PROMPT}]
API_KEY = "bench-not-a-secret"  # loopback server; some clients refuse to start without a key
RAW_LIMIT = 512  # raw clients get a pool large enough that the pool is never what is measured


def payload(*, stream: bool = False) -> dict[str, Any]:
    """The request body the raw clients send (what every adapter sends, give or take a field)."""
    body: dict[str, Any] = {"model": "bench", "messages": MESSAGES}
    if stream:
        body["stream"] = True
    return body


# --- raw clients ----------------------------------------------------------------------------------


def httpx_client() -> Any:
    import httpx

    return httpx.Client(
        limits=httpx.Limits(max_connections=RAW_LIMIT, max_keepalive_connections=RAW_LIMIT)
    )


def httpx_async_client(transport: Any = None) -> Any:
    import httpx

    limits = httpx.Limits(max_connections=RAW_LIMIT, max_keepalive_connections=RAW_LIMIT)
    return httpx.AsyncClient(limits=limits, transport=transport)


def httpx_over_aiohttp_client() -> Any:
    """httpx's interface over the httpx-aiohttp transport (the third-party reference)."""
    import httpx
    import httpx_aiohttp

    limits = httpx.Limits(max_connections=RAW_LIMIT, max_keepalive_connections=RAW_LIMIT)
    return httpx_async_client(httpx_aiohttp.AiohttpTransport(limits=limits))


def aiohttp_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=RAW_LIMIT))


# --- hfbridge -------------------------------------------------------------------------------------


def hf_client(base: str) -> Any:
    from hfbridge.transport import HFClient

    return HFClient(base_url=base)


def hf_async_client(base: str) -> Any:
    from hfbridge.transport import AsyncHFClient

    return AsyncHFClient(base_url=base)


def chat_service(base: str) -> Any:
    from hfbridge.inference.chat import ChatService

    return ChatService(model="bench", base_url=base)


def chat_hf(base: str) -> Any:
    from hfbridge.langchain import ChatHF

    return ChatHF(model="bench", base_url=base)


def chat_hf_responses(base: str) -> Any:
    """ChatHF on the Responses API (``POST {base}/responses``)."""
    from hfbridge.langchain import ChatHF

    return ChatHF(model="bench", base_url=base, use_responses_api=True)


def hf_llm(base: str) -> Any:
    from hfbridge.llama_index import HFLLM

    return HFLLM(model="bench", base_url=base)


def hf_embeddings(base: str) -> Any:
    from hfbridge.langchain import HFEmbeddings

    return HFEmbeddings(model="bench", base_url=base, batch_size=32)


def hf_embedding(base: str) -> Any:
    from hfbridge.llama_index import HFEmbedding

    return HFEmbedding(model_name="bench", base_url=base)


# --- anchors --------------------------------------------------------------------------------------


def chat_huggingface(base: str) -> Any:
    """langchain-huggingface: ChatHuggingFace over HuggingFaceEndpoint pointed at the server."""
    from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint

    llm = HuggingFaceEndpoint(
        endpoint_url=base, task="conversational", huggingfacehub_api_token=API_KEY
    )
    return ChatHuggingFace(llm=llm)


def chat_openai(base: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="bench", base_url=base, api_key=API_KEY)


def chat_openai_responses(base: str) -> Any:
    """langchain-openai on the Responses API (``POST {base}/responses``)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="bench", base_url=base, api_key=API_KEY, use_responses_api=True)


def hf_inference_api(base: str) -> Any:
    """llama-index-llms-huggingface-api pointed at the server (its ``model`` may be a URL)."""
    from llama_index.llms.huggingface_api import HuggingFaceInferenceAPI

    return HuggingFaceInferenceAPI(model=base, token=API_KEY)


def inference_client(base: str) -> Any:
    from huggingface_hub import InferenceClient

    return InferenceClient(base_url=base, api_key=API_KEY)


def async_inference_client(base: str) -> Any:
    from huggingface_hub import AsyncInferenceClient

    return AsyncInferenceClient(base_url=base, api_key=API_KEY)


# --- framework floors (no I/O) --------------------------------------------------------------------


def fake_list_chat_model(response: str) -> Any:
    from langchain_core.language_models import FakeListChatModel

    return FakeListChatModel(responses=[response])


def generic_fake_chat_model(response: str) -> Any:
    """GenericFakeChatModel answering ``response`` forever (it streams word by word)."""
    import itertools

    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    return GenericFakeChatModel(messages=itertools.repeat(AIMessage(content=response)))


def mock_llm(max_tokens: int | None = None) -> Any:
    from llama_index.core.llms import MockLLM

    return MockLLM(max_tokens=max_tokens)


def lc_messages() -> list[Any]:
    from langchain_core.messages import HumanMessage

    return [HumanMessage(content=PROMPT)]


def li_messages() -> list[Any]:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role="user", content=PROMPT)]
