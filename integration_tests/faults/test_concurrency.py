"""256 concurrent async chat calls against a server that misbehaves on a third of them.

Every call must end, within a global bound, in a result or an ``HFError`` subclass (the right one
for its fault); afterwards no connection is left acquired in the shared pool, the server sees
every connection closed once the event loop (and with it the pool) shuts down, and nothing warns
about an unclosed client or connection.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import Callable

from faultserver import SSE, Behaviour, Request, Reset, Stall, chat_body, chat_chunks, json_reply
from support import ANSWER, CHAT_PATH, chat_service

from hfbridge.errors import (
    HFAuthenticationError,
    HFError,
    HFResponseError,
    HFServerError,
    HFStreamError,
    HFTimeoutError,
)
from hfbridge.inference.chat import CallOptions
from hfbridge.transport._pool import shared_async_client

CALLS = 256
KINDS = 10
GLOBAL_BOUND = 30.0  # seconds: far above the slowest expected call (two 0.5 s timeouts)

# The outcome each kind of call must end in: a text, or the class of the error.
EXPECTED: dict[int, object] = {
    0: ANSWER,  # healthy
    1: ANSWER,  # 503 loading once, then served
    2: ANSWER,  # 429 Retry-After: 0 once, then served
    3: ANSWER,  # reset before the answer once, then served
    4: HFServerError,  # 500 on every attempt
    5: HFTimeoutError,  # never answers
    6: HFResponseError,  # malformed JSON on a 200
    7: HFStreamError,  # stream reset after its first events
    8: HFAuthenticationError,  # 401
    9: "one two ",  # a healthy stream
}


def _healthy() -> Behaviour:
    return json_reply(200, chat_body(ANSWER))


LOADING = {"error": "Model is currently loading", "estimated_time": 0}
# kind -> (behaviour of the first attempt only, or None; behaviour of every other attempt)
PLAN: dict[int, tuple[Callable[[], Behaviour] | None, Callable[[], Behaviour]]] = {
    0: (None, _healthy),
    1: (lambda: json_reply(503, LOADING, "503-loading"), _healthy),
    2: (lambda: json_reply(429, {"error": "slow down"}, "429", retry_after="0"), _healthy),
    3: (Reset, _healthy),
    4: (None, lambda: json_reply(500, {"error": "boom"}, "500")),
    5: (None, lambda: Stall(seconds=20)),
    6: (None, lambda: json_reply(200, b'{"choices": [', "malformed")),
    7: (None, lambda: SSE(chat_chunks("one ", "two ", "three"), end="reset", fault="mid-stream")),
    8: (None, lambda: json_reply(401, {"error": "Invalid credentials"}, "401")),
    9: (None, lambda: SSE(chat_chunks("one ", "two "))),
}
STREAMED = (7, 9)


class Script:
    """Per-call behaviour chosen from the message ("call-17" is kind 17 % KINDS)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, request: Request) -> Behaviour:
        call = request.json()["messages"][0]["content"]
        attempt = self.seen.get(call, 0)
        self.seen[call] = attempt + 1
        first_only, always = PLAN[int(call.split("-")[1]) % KINDS]
        return first_only() if first_only is not None and attempt == 0 else always()


async def one_call(service, index: int):
    messages = [{"role": "user", "content": f"call-{index}"}]
    kind = index % KINDS
    options = CallOptions(timeout=0.5, max_retries=1) if kind == 5 else None
    try:
        if kind in STREAMED:
            stream = service.astream(messages, {}, options)
            text = "".join([delta.content async for delta in stream])
        else:
            text = (await service.acomplete(messages, {}, options)).completion.first.content
    except HFError as exc:
        return exc
    return text


async def run_all(service):
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(one_call(service, i) for i in range(CALLS)), return_exceptions=True),
        GLOBAL_BOUND,
    )
    # Pool stats while the loop (and its shared pool) is still alive: nothing left acquired.
    http = await shared_async_client(verify=True)
    connector = http._transport._session.connector
    return outcomes, len(connector._acquired), connector.limit


def test_256_concurrent_calls_all_end_typed_without_leaks(fault_server, fault_report):
    fault_server.route(CHAT_PATH, Script())
    service = chat_service(fault_server.url + "/v1")
    started = time.monotonic()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcomes, acquired, limit = asyncio.run(run_all(service))
        gc.collect()

    elapsed = time.monotonic() - started
    assert len(outcomes) == CALLS
    wrong = []
    for index, outcome in enumerate(outcomes):
        expected = EXPECTED[index % KINDS]
        ok = outcome == expected if isinstance(expected, str) else type(outcome) is expected
        if not ok:
            wrong.append((index, expected, outcome))
    assert wrong == []
    assert acquired == 0  # every connection went back to the pool or was closed
    assert fault_server.max_open_connections <= limit
    assert fault_server.wait_idle(5.0), f"{fault_server.open_connections} connection(s) still open"
    resource_warnings = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert resource_warnings == []
    assert elapsed < GLOBAL_BOUND
    fault_report(
        "256 concurrent async calls",
        requests=len(fault_server.requests), faults=dict(fault_server.faults),
        results=sum(isinstance(o, str) for o in outcomes),
        typed_errors=sum(isinstance(o, HFError) for o in outcomes),
        max_open_connections=fault_server.max_open_connections, seconds=round(elapsed, 2),
    )  # fmt: skip
