"""Faults 1, 2, 3 and 10: error statuses, retried to success or raised as the right typed error.

Every scenario runs four ways (complete, acomplete, stream, astream) through ChatService against
the loopback fault server. Waits are recorded by an injected ``sleep`` (see ``support.Waits``), so
a test proves that the server's ``Retry-After`` / ``estimated_time`` was honoured without spending
it.
"""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from faultserver import Respond, json_reply
from support import ANSWER, CHAT_PATH, MODES, Waits, chat_service, healthy_chat, run_chat

from hfbridge.errors import (
    HFAuthenticationError,
    HFModelLoadingError,
    HFNotFoundError,
    HFPayloadTooLargeError,
    HFPaymentRequiredError,
    HFPermissionError,
    HFRateLimitError,
    HFServerError,
    HFUnprocessableError,
)
from hfbridge.transport import RetryPolicy

# Waits are recorded, not slept, so the cap can be realistic.
RECORDED = RetryPolicy(max_retries=2, initial_delay=0.01, max_backoff=0.05, wait_cap=60.0)
LOADING = {"error": "Model org/m is currently loading", "estimated_time": 7.5}


@pytest.mark.parametrize("mode", MODES)
def test_model_loading_then_success_waits_the_estimated_time(fault_server, mode):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(CHAT_PATH, json_reply(503, LOADING, fault="503-loading"))
    waits = Waits()

    text = run_chat(chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED), mode)

    assert text == ANSWER
    assert waits.values == [7.5]
    assert fault_server.by_path[CHAT_PATH] == 2


@pytest.mark.parametrize("mode", MODES)
def test_model_loading_past_the_budget_raises_loading_error(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: json_reply(503, LOADING, fault="503-loading"))
    waits = Waits()
    service = chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED)

    with pytest.raises(HFModelLoadingError) as caught:
        run_chat(service, mode)

    assert caught.value.estimated_time == 7.5
    assert caught.value.status_code == 503
    assert "loading" in str(caught.value)
    assert "8 s" in str(caught.value)  # the hint states the wait, rounded
    assert fault_server.by_path[CHAT_PATH] == RECORDED.max_retries + 1
    assert waits.values == [7.5, 7.5]


@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_with_retry_after_seconds_then_success(fault_server, mode):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(
        CHAT_PATH, json_reply(429, {"error": "slow down"}, fault="429", retry_after="3")
    )
    waits = Waits()

    text = run_chat(chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED), mode)

    assert text == ANSWER
    assert waits.values == [3.0]


@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_with_retry_after_http_date_then_success(fault_server, mode):
    fault_server.route(CHAT_PATH, healthy_chat)
    when = formatdate(time.time() + 30, usegmt=True)
    fault_server.script(
        CHAT_PATH, json_reply(429, {"error": "slow down"}, fault="429", retry_after=when)
    )
    waits = Waits()

    text = run_chat(chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED), mode)

    assert text == ANSWER
    assert len(waits.values) == 1
    assert 27.0 <= waits.values[0] <= 30.0  # an HTTP date has a resolution of one second


@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_past_the_budget_carries_the_wait(fault_server, mode):
    fault_server.route(
        CHAT_PATH, lambda _: json_reply(429, {"error": "quota"}, fault="429", retry_after="12")
    )
    waits = Waits()
    service = chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED)

    with pytest.raises(HFRateLimitError) as caught:
        run_chat(service, mode)

    assert caught.value.retry_after == 12.0
    assert "retry after 12 s" in str(caught.value)
    assert "quota" in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 3
    assert waits.values == [12.0, 12.0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_error_then_success(fault_server, mode, status):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(CHAT_PATH, json_reply(status, {"error": "boom"}, fault=f"{status}"))
    waits = Waits()

    text = run_chat(chat_service(fault_server.url + "/v1", waits=waits, retry=RECORDED), mode)

    assert text == ANSWER
    assert len(waits.values) == 1
    assert 0 < waits.values[0] <= RECORDED.max_backoff  # our backoff: the server asked nothing


@pytest.mark.parametrize("mode", MODES)
def test_server_error_past_the_budget(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: json_reply(502, {"error": "upstream died"}, "502"))

    with pytest.raises(HFServerError) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=RECORDED), mode)

    assert caught.value.status_code == 502
    assert "upstream died" in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 3


CLIENT_ERRORS = [
    (401, {"error": "Invalid credentials in Authorization header"}, HFAuthenticationError,
     "HF_TOKEN", "key it expects"),
    (402, {"error": "You have exceeded your monthly included credits"}, HFPaymentRequiredError,
     "billing", "account behind its key"),
    (403, {"error": "Access to model org/m is restricted"}, HFPermissionError, "licence",
     "check the key"),
    (404, {"error": "Model org/m does not exist"}, HFNotFoundError, "check the model id",
     "<base_url>/models"),
    (413, {"error": "Payload Too Large"}, HFPayloadTooLargeError, "fewer or shorter inputs",
     "fewer or shorter inputs"),
    (422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"},
     HFUnprocessableError, "check parameters", "check parameters"),
]  # fmt: skip
"""Status, body, error, the advice when the server is Hugging Face's, and when it is self-hosted."""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("server", ["hugging-face", "self-hosted"])
@pytest.mark.parametrize("case", CLIENT_ERRORS, ids=[str(case[0]) for case in CLIENT_ERRORS])
def test_client_errors_raise_the_typed_error_at_once(fault_server, mode, server, case, monkeypatch):
    status, body, error, hf_advice, self_hosted_advice = case
    if server == "hugging-face":  # the fault server's host stands for the Hub's (HF_ENDPOINT)
        monkeypatch.setenv("HF_ENDPOINT", fault_server.url)
    fault_server.route(
        CHAT_PATH, lambda _: json_reply(status, body, f"{status}", x_request_id="req-42")
    )

    with pytest.raises(error) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=RECORDED), mode)

    message = str(caught.value)
    assert caught.value.status_code == status
    assert body["error"] in message  # the server's words
    assert (hf_advice if server == "hugging-face" else self_hosted_advice) in message
    assert "req-42" in message
    assert caught.value.request_id == "req-42"
    assert fault_server.by_path[CHAT_PATH] == 1  # never retried


@pytest.mark.parametrize("mode", MODES)
def test_gated_repo_header_makes_a_permission_error(fault_server, mode):
    fault_server.route(
        CHAT_PATH,
        lambda _: Respond(
            403, {"error": "Cannot access gated repo"}, {"x-error-code": "GatedRepo"}, fault="403"
        ),
    )

    with pytest.raises(HFPermissionError) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=RECORDED), mode)

    assert caught.value.error_code == "GatedRepo"
    assert "accept its licence" in str(caught.value)
