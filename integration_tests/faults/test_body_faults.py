"""Fault 8 (and the wire side of 11): bodies that are not what the route promises.

A malformed, empty or HTML body on a success status is an ``HFResponseError`` that says what came
back; an HTML error page from a proxy on an error status is the status's typed error, with the
page's title instead of its markup; a stream route answered with a JSON document or an HTML page
raises instead of yielding nothing.
"""

from __future__ import annotations

import json

import pytest
from faultserver import SSE, Respond, chat_body, json_reply, tgi_events
from support import ANSWER, CHAT_PATH, MODES, chat_service, healthy_chat, run_chat

from hfbridge.errors import HFResponseError, HFServerError, HFStreamError

PROXY_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
LOGIN_PAGE = "<html><head><title>Sign in - Corporate Proxy</title></head><body>...</body></html>"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"choices": [{"message": {"content": "cut', "application/json", "non-JSON body"),
        (b"", "application/json", "empty body"),
        (LOGIN_PAGE.encode(), "text/html", "non-JSON body (text/html)"),
        (b'{"object": "error"}', "application/json", "no 'choices'"),
        (b"[1, 2, 3]", "application/json", "no 'choices'"),
    ],
    ids=["malformed-json", "empty", "html-page", "no-choices", "json-array"],
)
def test_success_status_with_a_bad_body_raises_response_error(
    fault_server, mode, body, content_type, expected
):
    fault_server.route(CHAT_PATH, lambda _: Respond(200, body, content_type=content_type))

    with pytest.raises(HFResponseError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert expected in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 1  # a body problem is not retried


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_json_body_with_a_wrong_content_type_is_still_read(fault_server, mode):
    answer = Respond(200, chat_body(ANSWER), content_type="text/plain")
    fault_server.route(CHAT_PATH, lambda _: answer)

    assert run_chat(chat_service(fault_server.url + "/v1"), mode) == ANSWER


@pytest.mark.parametrize("mode", MODES)
def test_proxy_html_error_page_is_retried_then_succeeds(fault_server, mode):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(CHAT_PATH, Respond(502, PROXY_PAGE, content_type="text/html", fault="html"))

    assert run_chat(chat_service(fault_server.url + "/v1"), mode) == ANSWER
    assert fault_server.by_path[CHAT_PATH] == 2


@pytest.mark.parametrize("mode", MODES)
def test_proxy_html_error_page_past_the_budget_names_the_page(fault_server, mode):
    fault_server.route(
        CHAT_PATH, lambda _: Respond(502, PROXY_PAGE, content_type="text/html", fault="html")
    )

    with pytest.raises(HFServerError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    message = str(caught.value)
    assert "502 Bad Gateway (HTML page, probably from a proxy or gateway)" in message
    assert "<html" not in message.lower()


@pytest.mark.parametrize("mode", MODES)
def test_error_status_with_an_empty_body(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: Respond(500, b"", fault="500-empty"))

    with pytest.raises(HFServerError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert "(empty body)" in str(caught.value)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_route_answered_with_a_json_document(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: json_reply(200, chat_body(ANSWER)))

    with pytest.raises(HFResponseError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert "instead of an event stream" in str(caught.value)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_route_answered_with_an_html_page(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: Respond(200, LOGIN_PAGE, content_type="text/html"))

    with pytest.raises((HFStreamError, HFResponseError)):
        run_chat(chat_service(fault_server.url + "/v1"), mode)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_with_an_event_that_is_not_json(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(["{not json"], fault="bad-event"))

    with pytest.raises(HFStreamError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert "not JSON" in str(caught.value)


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("event", [[1, 2], "just a string", 42, None])
def test_stream_with_an_event_that_is_not_an_object(fault_server, mode, event):
    fault_server.route(CHAT_PATH, lambda _: SSE([json.dumps(event)]))

    with pytest.raises((HFStreamError, HFResponseError)):
        run_chat(chat_service(fault_server.url + "/v1"), mode)


def test_tgi_events_without_a_token_raise(fault_server):
    from support import fast_config

    from hfbridge.inference.textgen import TextGenService
    from hfbridge.transport import HFClient
    from hfbridge.wire.textgen import GenerationParams

    events = [{"choices": []}, *tgi_events("x")]
    fault_server.route("/generate_stream", lambda _: SSE(events, end="eof"))
    client = HFClient(fast_config(fault_server.url))
    service = TextGenService(base_url=fault_server.url, api="tgi", client=client)

    with pytest.raises(HFResponseError) as caught:
        list(service.stream("x", GenerationParams()))

    assert "without a 'token'" in str(caught.value)
