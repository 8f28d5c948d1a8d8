"""The route seam: any Route is served by one loop (call, failover, stream, end rule), sync and async.

The route here is a small one of the tests' own (a "count the words" service), so that what is
checked is the loop's contract, not one production route's shapes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hfbridge.errors import HFConfigError, HFResponseError, HFServerError, HFStreamError
from hfbridge.inference.connection import Connection
from hfbridge.inference.routes import get_route, register, route_names
from hfbridge.inference.service import CallOptions, RouteService
from hfbridge.wire.route import Route, Target

BASE = "http://127.0.0.1:1"


@dataclass(frozen=True)
class Words:
    text: str


def _url(target: Target, stream: bool) -> str:
    if target.base_url is None:
        raise HFConfigError("the words route needs a base_url")
    return f"{target.base_url}/{'stream' if stream else 'count'}"


def _build(request: Words, target: Target, stream: bool) -> dict[str, Any]:
    return {"model": target.model, "text": request.text, "stream": stream}


def _parse(body: Any, headers: Mapping[str, str], request: Words) -> int:
    if not isinstance(body, dict) or not isinstance(body.get("count"), int):
        raise HFResponseError("no count", body=str(body))
    return body["count"]


class LastEvent:
    """The words route's end rule: a body without [DONE] is complete after its "last" event."""

    name = "last-event"
    expects = "its last event"
    start = False

    @staticmethod
    def step(state: bool, event: Any) -> bool:
        return state or bool(event.get("last"))

    @staticmethod
    def finished(state: bool) -> bool:
        return state


@dataclass
class _Fold:
    words: list[str] = field(default_factory=list)

    def add(self, event: Any) -> list[str]:
        word = event.get("word")
        if word:
            self.words.append(word)
            return [word]
        return []

    def end(self, headers: Mapping[str, str]) -> list[str]:
        return ["<end>"]

    def result(self) -> int:
        return len(self.words)


WORDS: Route[Words, int, str] = Route(
    name="test-words", url=_url, build=_build, parse=_parse, fold=lambda _request: _Fold(),
    stream_end=LastEvent(),
)  # fmt: skip


def sse(*events: Any, done: bool = False) -> bytes:
    body = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


class Server:
    """Answers per target model: a status, a JSON body, or an event stream."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append({"url": str(request.url), **body})
        answer = self.answers[body["model"]]
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": "down"})
        if isinstance(answer, bytes):
            return httpx.Response(200, content=answer, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=answer, headers={"x-request-id": "rid-1"})


def service(server: Server) -> RouteService[Words, int, str]:
    transport = httpx.MockTransport(server)
    return RouteService(WORDS, Connection.create(base_url=BASE, transport=transport, max_retries=0))


def targets(*models: str) -> list[Target]:
    return [Target(model=model, base_url=BASE) for model in models]


def run_call(svc: RouteService[Words, int, str], request: Words, tried: list[Target], mode: str) -> Any:
    if mode == "sync":
        return svc.call(request, tried)
    return asyncio.run(svc.acall(request, tried))


def run_stream(svc: RouteService[Words, int, str], tried: Any, mode: str) -> tuple[list[str], Any]:
    if mode == "sync":
        stream = svc.stream(Words("a b"), tried)
        return list(stream), stream

    async def consume() -> tuple[list[str], Any]:
        stream = svc.astream(Words("a b"), tried)
        return [delta async for delta in stream], stream

    return asyncio.run(consume())


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_a_call_is_built_sent_and_parsed_by_the_route(mode):
    server = Server(m={"count": 2})
    served = run_call(service(server), Words("a b"), targets("m"), mode)
    assert served.result == 2
    assert (served.request_id, served.target.model, served.provider) == ("rid-1", "m", None)
    assert server.requests == [{"url": f"{BASE}/count", "model": "m", "text": "a b", "stream": False}]


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_over_error_moves_to_the_next_target_and_logs(mode, caplog):
    server = Server(first=503, second={"count": 1})
    with caplog.at_level(logging.WARNING, logger="hfbridge.inference"):
        served = run_call(service(server), Words("x"), targets("first", "second"), mode)
    assert served.result == 1
    assert served.target.model == "second"
    assert [request["model"] for request in server.requests] == ["first", "second"]
    assert "first failed (HFServerError); failing over" in caplog.text


@pytest.mark.parametrize("mode", MODES)
def test_the_last_target_reraises_and_other_errors_never_fail_over(mode):
    with pytest.raises(HFServerError):
        run_call(service(Server(first=503, second=500)), Words("x"), targets("first", "second"), mode)
    server = Server(first=400, second={"count": 1})
    with pytest.raises(Exception, match="HTTP 400"):
        run_call(service(server), Words("x"), targets("first", "second"), mode)
    assert [request["model"] for request in server.requests] == ["first"]


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_folds_its_events_and_releases_the_tail_at_the_end(mode):
    server = Server(m=sse({"word": "a"}, {"word": "b"}, done=True))
    deltas, stream = run_stream(service(server), targets("m"), mode)
    assert deltas == ["a", "b", "<end>"]
    assert stream.result() == 2
    assert stream.target.model == "m"
    assert server.requests[0]["url"] == f"{BASE}/stream"
    assert server.requests[0]["stream"] is True


@pytest.mark.parametrize("mode", MODES)
def test_the_end_rule_decides_whether_a_stream_ending_without_marker_is_complete(mode):
    finished = Server(m=sse({"word": "a"}, {"last": True}))
    deltas, _ = run_stream(service(finished), targets("m"), mode)
    assert deltas == ["a", "<end>"]
    cut = Server(m=sse({"word": "a"}))
    with pytest.raises(HFStreamError, match=r"ended after 1 event\(s\) without \[DONE\] and before its last event"):
        run_stream(service(cut), targets("m"), mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_fails_over_before_its_first_event_only(mode):
    server = Server(first=502, second=sse({"word": "z"}, done=True))
    deltas, stream = run_stream(service(server), targets("first", "second"), mode)
    assert deltas == ["z", "<end>"]
    assert stream.target.model == "second"


def test_stream_targets_may_be_planned_on_iteration():
    server = Server(m=sse({"word": "a"}, done=True))
    asked: list[str] = []

    def plan() -> list[Target]:
        asked.append("sync")
        return targets("m")

    async def aplan() -> list[Target]:
        asked.append("async")
        return targets("m")

    svc = service(server)
    stream = svc.stream(Words("a"), plan)
    assert asked == []
    assert list(stream) == ["a", "<end>"]
    run_stream(svc, aplan, "async")
    assert asked == ["sync", "async"]


def test_the_result_is_refused_before_the_stream_is_consumed():
    stream = service(Server(m=sse(done=True))).stream(Words("a"), targets("m"))
    with pytest.raises(Exception, match="has not finished"):
        stream.result()


def test_per_call_options_reach_the_transport():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 0})

    svc = RouteService(WORDS, Connection.create(base_url=BASE, transport=httpx.MockTransport(handler)))
    svc.call(Words(""), targets("m"), CallOptions(timeout=2.5, headers={"X-Trace": "t"}))
    assert seen[0].extensions["timeout"]["read"] == 2.5
    assert seen[0].headers["x-trace"] == "t"


def test_a_route_that_cannot_serve_a_target_says_so_before_any_request():
    with pytest.raises(HFConfigError, match="needs a base_url"):
        service(Server()).call(Words("x"), [Target(model="m")])


def test_the_registry_loads_a_route_by_name():
    register("test-words", f"{__name__}:WORDS")
    assert "test-words" in route_names()
    assert get_route("test-words") is WORDS
    with pytest.raises(HFConfigError, match="unknown route 'nope'"):
        get_route("nope")
