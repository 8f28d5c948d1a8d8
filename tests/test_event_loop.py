"""No sync I/O on an async path (issue 17, the event loop).

A loop-lag probe (a task that wakes every 10 ms and notes how late it wakes) runs beside each
async call. The catalog behind the calls is cold, and its *sync* transport blocks for 0.5 s per
request (``time.sleep``) while its async one waits without blocking (``asyncio.sleep``): a sync
catalog request made on the event loop shows up as a lag of 0.5 s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
import types
import warnings
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel

from hfbridge.catalog import Catalog, acapabilities, capabilities
from hfbridge.catalog.cache import TTLCache
from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import ChatService
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM
from hfbridge.transport import AsyncHFClient, HFClient

T = TypeVar("T")
SLOW = 0.5
ALLOWED_LAG = 0.2
MODEL = "org/m"
CATALOG_ENTRY = {
    "id": MODEL,
    "providers": [{
        "provider": "prova", "status": "live", "supports_tools": True,
        "supports_structured_output": True, "pricing": {"input": 1.0, "output": 2.0},
    }],
}  # fmt: skip
COMPLETION = {
    "id": "c", "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"name": "x"}'},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}  # fmt: skip
STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":500,'
    b'"total_tokens":1500}}\n\ndata: [DONE]\n\n'
)


async def lag_of(call: Awaitable[T]) -> tuple[T, float]:
    """``await call`` with a probe beside it; return its result and the worst lag seen."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - start - 0.01)

    # The collector's pauses are not our code blocking the loop: a full collection of the test
    # session's heap (3,000 tests in) can stop the process for longer than ALLOWED_LAG.
    gc.collect()
    gc.disable()
    task = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    try:
        result = await call
    finally:
        done.set()
        await task
        gc.enable()
    return result, max(lags, default=0.0)


class Backend:
    """The router (chat answers) and its catalog, whose sync transport blocks."""

    def __init__(self) -> None:
        self.sync_catalog_calls = 0
        self.threads: set[int] = set()

    def chat(self, request: httpx.Request) -> httpx.Response:
        headers = {"x-inference-provider": "prova"}
        if json.loads(request.content).get("stream"):
            return httpx.Response(
                200, content=STREAM, headers={**headers, "content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=COMPLETION, headers=headers)

    def sync_catalog(self, request: httpx.Request) -> httpx.Response:
        self.sync_catalog_calls += 1
        time.sleep(SLOW)  # a cold catalog over a slow network: blocks whoever calls
        return httpx.Response(200, json=CATALOG_ENTRY)

    async def async_catalog(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(SLOW)
        return httpx.Response(200, json=CATALOG_ENTRY)

    def catalog(self, **kwargs: Any) -> Catalog:
        return Catalog(
            HFClient(transport=httpx.MockTransport(self.sync_catalog)),
            AsyncHFClient(transport=httpx.MockTransport(self.async_catalog)),
            cache_dir=kwargs.pop("cache_dir", False),
            **kwargs,
        )

    def clients(self) -> dict[str, Any]:
        return {
            "client": HFClient(token="hf_loopTestToken0123456789", transport=httpx.MockTransport(
                self.chat)),
            "async_client": AsyncHFClient(
                token="hf_loopTestToken0123456789", transport=httpx.MockTransport(self.chat)
            ),
        }  # fmt: skip


@pytest.fixture
def backend() -> Backend:
    return Backend()


EXPECTED_COST = 1000 * 1.0 / 1e6 + 500 * 2.0 / 1e6


@pytest.mark.parametrize("model", [f"{MODEL}:prova", MODEL])
def test_chat_service_acomplete_prices_without_blocking_the_loop(backend, model):
    service = ChatService(model=model, catalog=backend.catalog(), **backend.clients())

    result, lag = asyncio.run(lag_of(service.acomplete([{"role": "user", "content": "hi"}], {})))

    assert lag < ALLOWED_LAG, lag
    assert backend.sync_catalog_calls == 0
    assert result.provider == "prova"
    assert result.cost_usd == pytest.approx(EXPECTED_COST)


def test_chat_service_astream_prices_without_blocking_the_loop(backend):
    service = ChatService(model=f"{MODEL}:prova", catalog=backend.catalog(), **backend.clients())

    async def consume() -> Any:
        stream = service.astream([{"role": "user", "content": "hi"}], {})
        async for _ in stream:
            pass
        return stream.result()

    result, lag = asyncio.run(lag_of(consume()))

    assert lag < ALLOWED_LAG, lag
    assert backend.sync_catalog_calls == 0
    assert result.cost_usd == pytest.approx(EXPECTED_COST)


def test_chathf_ainvoke_and_astream_do_not_block_the_loop(backend):
    model = ChatHF(model=f"{MODEL}:prova", catalog=backend.catalog(), **backend.clients())

    async def both() -> Any:
        message = await model.ainvoke("hi")
        chunks = [chunk async for chunk in model.astream("hi")]
        return message, chunks

    (message, _chunks), lag = asyncio.run(lag_of(both()))

    assert lag < ALLOWED_LAG, lag
    assert backend.sync_catalog_calls == 0
    assert message.response_metadata["cost_usd"] == pytest.approx(EXPECTED_COST)


class Person(BaseModel):
    name: str


def test_hfllm_async_structured_output_and_metadata_do_not_block_the_loop(backend):
    llm = HFLLM(model=MODEL, catalog=backend.catalog(), **backend.clients())

    async def work() -> Any:
        from llama_index.core.prompts import PromptTemplate

        metadata = llm.metadata  # a sync property, read from async code: must not block
        person = await llm.astructured_predict(Person, PromptTemplate("Name someone."))
        return metadata, person

    (metadata, person), lag = asyncio.run(lag_of(work()))

    assert lag < ALLOWED_LAG, lag
    assert backend.sync_catalog_calls == 0
    assert person == Person(name="x")
    assert metadata.is_function_calling_model  # unknown yet: not refused


def test_sync_capabilities_from_a_running_loop_answer_from_memory_and_prefetch(backend):
    catalog = backend.catalog()

    async def ask_twice() -> Any:
        first = capabilities(MODEL, catalog=catalog)
        await asyncio.sleep(SLOW + 0.2)  # the prefetch lands
        return first, capabilities(MODEL, catalog=catalog)

    (first, second), lag = asyncio.run(lag_of(ask_twice()))

    assert lag < ALLOWED_LAG, lag
    assert backend.sync_catalog_calls == 0
    assert first.known is False
    assert "event loop" in first.note
    assert second.known is True
    assert second.supports_tools is True
    assert capabilities(MODEL, catalog=catalog).known is True  # outside a loop: as before


def test_sync_capabilities_in_a_notebook_kernel_fetch(backend, monkeypatch):
    # A Jupyter kernel runs every cell on its event loop: a sync call from a cell is the user's
    # sync code (bind_tools, capabilities), so it fetches instead of answering "unknown".
    kernel_shell = type("ZMQInteractiveShell", (), {"__module__": "ipykernel.zmqshell"})()
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: kernel_shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    catalog = backend.catalog()

    async def cell() -> Any:
        return capabilities(MODEL, catalog=catalog)

    caps = asyncio.run(cell())

    assert caps.known is True
    assert caps.supports_tools is True
    assert backend.sync_catalog_calls == 1


def test_a_terminal_ipython_shell_is_not_a_kernel(backend, monkeypatch):
    terminal_shell = type("TerminalInteractiveShell", (), {"__module__": "IPython.terminal"})()
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: terminal_shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    catalog = backend.catalog()

    async def coroutine() -> Any:
        return capabilities(MODEL, catalog=catalog)

    caps = asyncio.run(coroutine())

    assert caps.known is False  # an async path: answered from memory, fetched in the background
    assert backend.sync_catalog_calls == 0


def test_the_disk_cache_is_read_and_written_off_the_loop(backend, tmp_path, monkeypatch):
    calls: list[tuple[str, bool]] = []
    read, write = TTLCache._read, TTLCache._write

    def record(kind: str, method: Any) -> Any:
        def wrapper(self: TTLCache, *args: Any) -> Any:
            calls.append((kind, threading.current_thread() is threading.main_thread()))
            return method(self, *args)

        return wrapper

    monkeypatch.setattr(TTLCache, "_read", record("read", read))
    monkeypatch.setattr(TTLCache, "_write", record("write", write))
    catalog = backend.catalog(cache_dir=tmp_path)

    caps = asyncio.run(acapabilities(MODEL, catalog=catalog))

    assert caps.known is True
    assert {kind for kind, _ in calls} == {"read", "write"}
    assert not any(on_main for _, on_main in calls)  # the loop runs on the main thread


# --- the catalog with one client ------------------------------------------------------------------


def test_a_catalog_given_one_client_builds_the_other_from_its_settings():
    sync_only = Catalog(HFClient(token="hf_oneClientToken012345678", timeout=7), cache_dir=False)
    async_client = sync_only.async_client  # used to raise HFConfigError (config and max_retries)
    assert async_client.config.token == sync_only.client.config.token
    assert async_client.config.timeout == 7
    assert async_client.config.retry.max_retries == 1
    async_only = Catalog(async_client=AsyncHFClient(token="hf_oneClientToken012345678"))
    assert async_only.client.config.token == async_only.async_client.config.token
    assert async_only.client.config.retry.max_retries == 1


def test_acapabilities_raises_configuration_errors_instead_of_reporting_unreachable():
    catalog = Catalog(HFClient(), cache_dir=False)

    def misconfigured(*_args: Any) -> Any:
        raise HFConfigError("a bad setting")

    async def amisconfigured(*_args: Any) -> Any:
        misconfigured()

    catalog.router_model = misconfigured  # type: ignore[method-assign]
    catalog.arouter_model = amisconfigured  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "catalog unreachable" warning either
        with pytest.raises(HFConfigError, match="a bad setting"):
            asyncio.run(acapabilities(MODEL, catalog=catalog))
        with pytest.raises(HFConfigError, match="a bad setting"):
            capabilities(MODEL, catalog=catalog)
