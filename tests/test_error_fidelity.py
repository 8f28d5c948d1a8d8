"""Error bodies real servers send, and the advice hfbridge gives for them (issue 16).

Bodies quoted from the replay corpus (tests/replay/recordings) or, for insufficient_quota, from
OpenAI's documented error codes.
"""

from __future__ import annotations

import inspect
import json

import httpx
import pytest

from hfbridge import errors
from hfbridge._redact import redact
from hfbridge.errors import (
    HFAuthenticationError,
    HFPaymentRequiredError,
    HFQuotaExceededError,
    HFRateLimitError,
    HFStatusError,
    HFUnprocessableError,
    error_from_response,
    extract_error_message,
)
from hfbridge.transport import HFClient
from hfbridge.transport.retry import is_retryable

SELF_HOSTED = "http://127.0.0.1:8080/v1/chat/completions"
ROUTER = "https://router.huggingface.co/v1/chat/completions"
QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
RATE_LIMIT = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}}


def build(status, body, url=ROUTER, *, self_hosted=False, **headers):
    return error_from_response(
        status_code=status, headers={"content-type": "application/json", **headers},
        body=json.dumps(body).encode(), method="POST", url=url, self_hosted=self_hosted,
    )  # fmt: skip


def _hints():
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, HFStatusError):
            for name in ("hint", "hint_without_model", "hint_self_hosted"):
                text = getattr(cls, name)
                if text:
                    yield pytest.param(text, id=f"{cls.__name__}.{name}")


@pytest.mark.parametrize("hint", list(_hints()))
def test_no_advice_is_mangled_by_the_token_redactor(hint):
    # The self-hosted 401 advice read "sent as a Bearer *** or in default_headers".
    assert redact(hint) == hint


def test_the_self_hosted_401_advice_reads_whole():
    error = build(401, {"error": "Invalid credentials"}, SELF_HOSTED, self_hosted=True)
    assert isinstance(error, HFAuthenticationError)
    assert "***" not in str(error)
    assert "Authorization header" in str(error)


def test_fastapi_validation_details_are_read_as_location_and_message():
    # hyperbolic_chat_422_detail: a pydantic error list, each item echoing the request as "input".
    body = {
        "detail": [
            {"type": "missing", "loc": ["body", "messages"], "msg": "Field required",
             "input": {"prompt": "Paris is", "model": "m"}},
            {"loc": ["body", "loras", 0, "path"], "msg": "str type expected",
             "type": "type_error.str"},
        ]
    }  # fmt: skip
    message = extract_error_message(body)
    assert message == "body.messages: Field required; body.loras.0.path: str type expected"
    error = build(422, body)
    assert isinstance(error, HFUnprocessableError)
    assert "Paris is" not in str(error)  # the echoed input stays in error.body, not the message


def test_a_plain_detail_string_and_other_lists_still_read():
    assert extract_error_message({"detail": "Unsupported data URL"}) == "Unsupported data URL"
    assert extract_error_message({"errors": [{"message": "a"}, "b"]}) == "a; b"
    assert extract_error_message({"error": ["x", "y"]}) == "x; y"


def test_vllm_style_object_error_bodies_give_their_message():
    # hyperbolic_chat_400_object_error (vLLM's ErrorResponse)
    body = {"object": "error", "message": "Only some models allowed now", "type": "",
            "param": None, "code": 40301}  # fmt: skip
    assert "Only some models allowed now" in str(build(400, body))


def test_insufficient_quota_is_a_billing_error_not_a_rate_limit():
    error = build(429, QUOTA)
    assert isinstance(error, HFQuotaExceededError)
    assert isinstance(error, HFPaymentRequiredError)  # caught where 402s are
    assert not isinstance(error, HFRateLimitError)
    assert error.status_code == 429  # the status the server sent
    assert "billing" in str(error)
    assert "retrying will not help" in str(error)
    assert not is_retryable(error)


def test_insufficient_quota_at_top_level_and_a_self_hosted_server():
    flat = build(429, {"code": "insufficient_quota", "message": "no quota"})
    assert isinstance(flat, HFQuotaExceededError)
    local = build(429, QUOTA, SELF_HOSTED, self_hosted=True)
    assert isinstance(local, HFQuotaExceededError)
    assert "hf.co/settings/billing" not in str(local)  # not Hugging Face's account


def test_an_ordinary_429_stays_a_retried_rate_limit():
    error = build(429, RATE_LIMIT, **{"retry-after": "2"})
    assert type(error) is HFRateLimitError
    assert is_retryable(error)


def test_insufficient_quota_is_sent_once_however_many_retries_are_allowed():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(429, json=QUOTA, headers={"retry-after": "0"})

    client = HFClient(transport=httpx.MockTransport(handler), max_retries=3, sleep=lambda _: None)
    with client, pytest.raises(HFQuotaExceededError):
        client.request("POST", ROUTER, json={"model": "m"})
    assert len(calls) == 1
