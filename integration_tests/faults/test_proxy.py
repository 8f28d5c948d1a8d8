"""A proxy set in the environment carries async calls too.

httpx honours ``HTTP_PROXY`` / ``HTTPS_PROXY`` only on its own transports; hfbridge's async pool
runs on an aiohttp transport, so with a proxy in the environment it falls back to httpx's own. The
fault server stands in for the proxy: it receives the absolute-form request for the upstream host.
"""

from __future__ import annotations

import pytest
from faultserver import Redirect
from support import ANSWER, CHAT_PATH, chat_service, healthy_chat, run_chat

from hfbridge.errors import HFResponseError

UPSTREAM = "http://upstream.invalid:8080/v1"  # unresolvable: only a proxy can answer for it


@pytest.mark.parametrize("mode", ["async", "astream"])
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_async_calls_go_through_the_environment_proxy(fault_server, monkeypatch, mode, variable):
    monkeypatch.setenv(variable, fault_server.url)
    fault_server.route(CHAT_PATH, healthy_chat)

    text = run_chat(chat_service(UPSTREAM), mode)  # each run is a new loop, so a new async pool

    assert text == ANSWER
    (request,) = fault_server.requests
    assert request.target == UPSTREAM + "/chat/completions"


@pytest.mark.parametrize("mode", ["async", "astream"])
def test_no_proxy_for_the_host_goes_direct(fault_server, monkeypatch, mode):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fault_server.route(CHAT_PATH, healthy_chat)

    assert run_chat(chat_service(fault_server.url + "/v1"), mode) == ANSWER
    assert fault_server.requests[0].target == CHAT_PATH


@pytest.mark.parametrize("mode", ["async", "astream"])
def test_redirects_through_the_environment_proxy_follow_hfbridges_rules(
    fault_server, monkeypatch, mode
):
    monkeypatch.setenv("HTTP_PROXY", fault_server.url)
    fault_server.route(CHAT_PATH, lambda _: Redirect(CHAT_PATH, 307, fault="redirect-loop"))

    with pytest.raises(HFResponseError, match="redirected more than 20 times"):
        run_chat(chat_service(UPSTREAM), mode)

    assert fault_server.by_path[CHAT_PATH] == 21  # one chain, typed, never retried
