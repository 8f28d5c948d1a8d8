"""The token on real sockets: which hosts receive it, and what logs and errors show of it.

Unit tests (tests/test_security.py) cover the same rules over MockTransport; here the requests go
through the real stacks (httpx/httpcore for sync, the aiohttp transport for async), whose DEBUG
logs are captured too.
"""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
from faultserver import (
    SSE,
    FaultServer,
    Raw,
    Redirect,
    Request,
    Reset,
    Stall,
    chat_chunks,
    json_reply,
)
from support import CHAT_PATH, MESSAGES, TOKEN, chat_service, healthy_chat

from hfbridge.errors import HFAuthenticationError, HFError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient


def echo_token(request: Request):
    auth = request.headers.get("authorization", "")
    return json_reply(
        401,
        {"error": f"Invalid credentials in Authorization header: {auth}", "echo": auth[7:]},
        fault="401-echo",
        x_error_message=f"token {auth[7:]} rejected",
    )


def run(service: ChatService, mode: str) -> object:
    if mode == "sync":
        return service.complete(MESSAGES, {})
    return asyncio.run(service.acomplete(MESSAGES, {}))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_echoed_token_is_absent_from_logs_and_errors_at_debug(fault_server, caplog, mode):
    fault_server.route(CHAT_PATH, echo_token)
    service = chat_service(fault_server.url + "/v1")

    with caplog.at_level(logging.DEBUG), pytest.raises(HFAuthenticationError) as caught:
        run(service, mode)

    received = fault_server.requests_to(CHAT_PATH)[0].headers["authorization"]
    assert received == f"Bearer {TOKEN}"  # explicit token, to the URL it was given for
    error = caught.value
    text = "\n".join(
        [str(error), repr(error), repr(vars(error)), *traceback.format_exception(error)]
    )
    assert TOKEN not in text
    assert "Invalid credentials" in text
    assert caplog.records  # DEBUG logging was on (httpx/httpcore or aiohttp, and hfbridge)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in repr(record.args) for record in caplog.records)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_env_token_is_not_sent_to_a_self_hosted_server(fault_server, monkeypatch, mode):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fault_server.route(CHAT_PATH, healthy_chat)
    base = fault_server.url + "/v1"
    service = ChatService(
        model="m", base_url=base, client=HFClient(base_url=base),
        async_client=AsyncHFClient(base_url=base),
    )  # fmt: skip

    run(service, mode)

    request = fault_server.requests_to(CHAT_PATH)[0]
    assert "authorization" not in request.headers
    assert TOKEN not in repr(request.headers)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_token_is_not_forwarded_by_a_cross_host_redirect(fault_server, mode):
    other = FaultServer().start()
    try:
        other.route(CHAT_PATH, healthy_chat)
        # Another host name for the same machine: another origin for the client.
        target = f"http://localhost:{other.port}{CHAT_PATH}"
        fault_server.route(CHAT_PATH, lambda _: Redirect(target, 307, fault="redirect"))

        run(chat_service(fault_server.url + "/v1"), mode)

        first = fault_server.requests_to(CHAT_PATH)[0]
        assert first.headers["authorization"] == f"Bearer {TOKEN}"
        followed = other.requests_to(CHAT_PATH)
        assert len(followed) == 1
        assert "authorization" not in followed[0].headers
        assert TOKEN not in repr(followed[0].headers)
        assert followed[0].json()["messages"] == list(MESSAGES)  # 307 keeps the method and body
    finally:
        other.stop()


# --- transport errors: nothing in the exception chain or its frames holds the token ---------------

BROKEN = {
    "reset": Reset,
    "stall": lambda: Stall(5.0),
    "bad-status-line": lambda: Raw(b"HTTP/1.1 2OO Fine\r\ncontent-length: 0\r\n\r\n"),
    "bad-header": lambda: Raw(b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n"),
    "cut-body": lambda: Raw(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"choi'),
    "cut-stream": lambda: SSE(chat_chunks("one"), end="reset"),
}


def run_any(service: ChatService, mode: str) -> None:
    """One call in any of the four modes (streams consumed to their end)."""
    if mode in ("sync", "async"):
        run(service, mode)
    elif mode == "stream":
        list(service.stream(MESSAGES, {}))
    else:

        async def consume() -> None:
            async for _ in service.astream(MESSAGES, {}):
                pass

        asyncio.run(consume())


def chain(error: BaseException) -> list[BaseException]:
    """The error and every exception it chains to (cause and context)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is item for item in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__]
    return seen


def rendered_with_locals(error: BaseException) -> str:
    """What a traceback printer that shows local variables (pytest --showlocals, rich) prints."""
    report = traceback.TracebackException(
        type(error), error, error.__traceback__, capture_locals=True
    )
    return "".join(report.format())


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize("fault", list(BROKEN))
def test_transport_errors_hold_no_credentials_even_in_frame_locals(fault_server, mode, fault):
    fault_server.route(CHAT_PATH, lambda _: BROKEN[fault]())
    service = chat_service(fault_server.url + "/v1", timeout=0.5)

    with pytest.raises(HFError) as caught:
        run_any(service, mode)

    errors = chain(caught.value)
    modules = [type(item).__module__ for item in errors]
    assert not any(module.startswith("aiohttp") for module in modules), modules
    assert TOKEN not in rendered_with_locals(caught.value)
