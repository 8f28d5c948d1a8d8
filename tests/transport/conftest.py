"""Shared tools of the transport tests: scripted MockTransport handlers, and one harness that runs
the same scenario through ``HFClient`` and ``AsyncHFClient``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.transport.sse import REQUIRE_DONE


class AcceptEOF:
    """A stream end rule for transport tests: the end of the body always completes the stream."""

    name = "accept-eof"
    expects = ""
    start = None

    @staticmethod
    def step(state: Any, _event: Any) -> Any:
        return state

    @staticmethod
    def finished(_state: Any) -> bool:
        return True


ACCEPT_EOF = AcceptEOF()

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sse"
SSE_HEADERS = {"content-type": "text/event-stream"}

Answer = Callable[[httpx.Request], httpx.Response] | BaseException


def reply(
    status: int = 200, body: Any = None, **kwargs: Any
) -> Callable[[httpx.Request], httpx.Response]:
    """A fresh ``httpx.Response`` per attempt (a response's body can only be read once)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if body is not None and not isinstance(body, (bytes, str)):
            return httpx.Response(status, json=body, **kwargs)
        return httpx.Response(status, content=body, **kwargs)

    return answer


def sse_reply(body: bytes, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return reply(200, body, headers={**SSE_HEADERS, **headers})


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Script:
    """A MockTransport handler: plays ``answers`` in order (the last one repeats), records requests.

    An answer is a callable ``request -> Response`` or an exception instance to raise.
    """

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def json_bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


class ChunkedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body delivered in given chunks, optionally broken by ``error`` after the last chunk."""

    def __init__(self, chunks: Sequence[bytes], error: BaseException | None = None) -> None:
        self.chunks = list(chunks)
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


@dataclass
class Harness:
    """Runs one call through the sync or the async client, recording the retry sleeps."""

    mode: str
    sleeps: list[float] = field(default_factory=list)
    last_stream: Any = None

    def client(self, handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
        transport = httpx.MockTransport(handler)
        if self.mode == "sync":
            return HFClient(transport=transport, sleep=self.sleeps.append, **kwargs)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return AsyncHFClient(transport=transport, sleep=sleep, **kwargs)

    def request(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        method: str = "POST",
        url: str = "chat/completions",
        *,
        client: dict[str, Any] | None = None,
        **call: Any,
    ) -> Any:
        hf = self.client(handler, **(client or {}))
        if self.mode == "sync":
            with hf:
                return hf.request(method, url, **call)

        async def run() -> Any:
            async with hf:
                return await hf.request(method, url, **call)

        return asyncio.run(run())

    def stream(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        url: str = "chat/completions",
        *,
        into: list[Any] | None = None,
        client: dict[str, Any] | None = None,
        **call: Any,
    ) -> list[Any]:
        """Collect the events into ``into`` (so a test still sees them when the stream raises)."""
        events = [] if into is None else into
        hf = self.client(handler, **(client or {}))
        if isinstance(call.get("end"), str):  # the tests' shorthand for the two plain rules
            call["end"] = {"done": REQUIRE_DONE, "eof": ACCEPT_EOF}[call["end"]]
        call.setdefault("json", {"model": "m", "stream": True})
        if self.mode == "sync":
            with hf, hf.stream("POST", url, **call) as stream:
                self.last_stream = stream
                events.extend(stream)
            return events

        async def run() -> None:
            async with hf:
                stream = hf.stream("POST", url, **call)
                self.last_stream = stream
                async with stream:
                    async for event in stream:
                        events.append(event)

        asyncio.run(run())
        return events


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Harness:
    """The same scenario through ``HFClient`` and through ``AsyncHFClient``."""
    return Harness(request.param)
