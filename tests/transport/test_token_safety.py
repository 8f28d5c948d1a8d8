"""The token never leaks: not in reprs, pickles, error messages, error bodies or logs."""

from __future__ import annotations

import json
import logging
import pickle

import httpx
import pytest
from tests.transport.conftest import Script, reply, sse_reply

from hfbridge.errors import HFError, HFStreamError
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, Secret

TOKEN = "hf_SafetyTokenAbcdefghijklmnop12"
CUSTOM = (
    "sk-local-0123456789abcdef"  # a non-HF key for a self-hosted server: only known, not shaped
)
STATUSES = [400, 401, 402, 403, 404, 408, 413, 418, 422, 429, 500, 502, 503, 504]


def assert_clean(*texts: object) -> None:
    for text in texts:
        rendered = text if isinstance(text, (str, bytes)) else repr(text)
        if isinstance(rendered, bytes):
            assert TOKEN.encode() not in rendered
            assert CUSTOM.encode() not in rendered
        else:
            assert TOKEN not in rendered
            assert CUSTOM not in rendered
            assert TOKEN[:12] not in rendered


def test_secret_hides_itself():
    secret = Secret(TOKEN)
    assert secret.get_secret_value() == TOKEN
    assert_clean(repr(secret), str(secret), f"{secret}", f"{secret!r}", [secret], {"t": secret})
    assert secret == Secret(TOKEN)
    assert secret != Secret("hf_other00000000000")
    assert not Secret("")


def test_pickled_secret_holds_no_token():
    data = pickle.dumps(Secret(TOKEN))
    assert_clean(data)
    restored = pickle.loads(data)  # noqa: S301 - our own bytes
    assert restored.get_secret_value() == ""


def test_config_and_clients_hide_the_token():
    config = ClientConfig.create(token=TOKEN, bill_to="org")
    config.headers_for("https://router.huggingface.co/v1")  # fills the cached header dicts
    sync_client = HFClient(config)
    async_client = AsyncHFClient(config)
    assert_clean(
        repr(config), str(config), repr(sync_client), str(async_client), repr(async_client)
    )
    assert "token=set (explicit)" in repr(config)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickled_config_holds_no_token_even_after_use(protocol):
    config = ClientConfig.create(
        token=TOKEN, base_url="http://127.0.0.1:1/v1", headers={"x-a": "b"}
    )
    assert config.headers_for("http://127.0.0.1:1/v1")["authorization"] == f"Bearer {TOKEN}"
    data = pickle.dumps(config, protocol=protocol)
    assert_clean(data)
    restored = pickle.loads(data)  # noqa: S301 - our own bytes
    assert restored.base_url == config.base_url
    assert restored.headers == (("x-a", "b"),)
    assert "authorization" not in restored.headers_for("http://127.0.0.1:1/v1")
    assert "authorization" not in restored.headers_for("https://router.huggingface.co/v1")


@pytest.mark.parametrize("status", STATUSES)
def test_error_messages_never_carry_an_echoed_token(harness, status):
    body = {
        "error": f"bad token {TOKEN} (Authorization: Bearer {CUSTOM})",
        "details": {"token": CUSTOM, "list": [TOKEN]},
    }
    headers = {"x-error-message": f"Invalid token {TOKEN}", "x-request-id": "r-1"}
    script = Script(reply(status, body, headers=headers))
    with pytest.raises(HFError) as caught:
        harness.request(
            script, client={"token": CUSTOM, "base_url": "http://127.0.0.1:9/v1"}, max_retries=0
        )
    error = caught.value
    assert_clean(str(error), repr(error), error.args, error.body, vars(error))
    assert "bad token ***" in str(error)


def test_an_echoed_token_across_the_length_cut_is_not_left_in_pieces(harness):
    body = ("x" * 490 + CUSTOM).encode()
    script = Script(reply(500, body, headers={"content-type": "text/plain"}))
    with pytest.raises(HFError) as caught:
        harness.request(
            script, client={"token": CUSTOM, "base_url": "http://127.0.0.1:9/v1"}, max_retries=0
        )
    assert CUSTOM[:6] not in str(caught.value)
    assert CUSTOM[:6] not in caught.value.body


def test_a_server_echoing_a_custom_key_whatever_it_looks_like(harness):
    digits = "7312940"  # a weak key a local server was started with; it also appears in a number
    script = Script(reply(400, {"error": f"key {digits} rejected", "code": 73129405}))
    with pytest.raises(HFError) as caught:
        harness.request(script, client={"token": digits, "base_url": "http://127.0.0.1:9/v1"})
    assert "key *** rejected" in str(caught.value)
    assert caught.value.body["code"] == 73129405  # the body stays valid JSON


def test_stream_error_events_never_carry_the_token(harness):
    event = {"error": {"message": f"token {TOKEN} expired", "http_status_code": 401}}
    body = f"data: {json.dumps(event)}\n\n".encode()
    with pytest.raises(HFStreamError) as caught:
        harness.stream(Script(sse_reply(body)), client={"token": TOKEN})
    assert_clean(str(caught.value), caught.value.args)


def test_a_non_json_stream_event_never_carries_the_token(harness):
    with pytest.raises(HFStreamError) as caught:
        harness.stream(
            Script(sse_reply(f"data: oops {TOKEN}\n\n".encode())), client={"token": TOKEN}
        )
    assert_clean(str(caught.value))


def test_transport_errors_never_carry_the_token(harness):
    script = Script(httpx.ConnectError(f"proxy said: Authorization: Bearer {TOKEN}"))
    with pytest.raises(HFError) as caught:
        harness.request(script, client={"token": TOKEN}, max_retries=0)
    assert_clean(str(caught.value))


def test_malformed_success_body_echoing_the_token(harness):
    script = Script(
        reply(200, f"<html>your token is {TOKEN}</html>", headers={"content-type": "text/html"})
    )
    response = harness.request(script, client={"token": TOKEN})
    with pytest.raises(HFError) as caught:
        response.json()
    assert_clean(str(caught.value), caught.value.body)


def test_debug_logs_never_carry_the_token(harness, caplog):
    caplog.set_level(logging.DEBUG)
    echo = reply(429, {"error": f"slow down {TOKEN}"}, headers={"retry-after": "0"})
    script = Script(echo, reply(503, {"error": f"down {TOKEN}"}), reply(200, {"ok": True}))
    harness.request(script, client={"token": TOKEN, "max_retries": 3})
    stream = Script(
        reply(502, f"bad gateway {TOKEN}"), sse_reply(b'data: {"a":1}\n\ndata: [DONE]\n\n')
    )
    harness.stream(stream, client={"token": TOKEN, "max_retries": 3})
    assert [record for record in caplog.records if record.levelno == logging.DEBUG]
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage(), str(record.args))
