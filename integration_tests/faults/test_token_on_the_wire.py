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
from faultserver import FaultServer, Redirect, Request, json_reply
from support import CHAT_PATH, MESSAGES, TOKEN, chat_service, healthy_chat

from hfbridge.errors import HFAuthenticationError
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
