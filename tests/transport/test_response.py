"""Successful answers: HFResponse fields, and success bodies that are not JSON."""

from __future__ import annotations

import pytest
from tests.transport.conftest import Script, reply

from hfbridge.errors import HFResponseError

URL = "https://router.huggingface.co/v1/chat/completions"


@pytest.mark.parametrize(
    ("content", "content_type", "what"),
    [
        pytest.param(b"", "application/json", "an empty body", id="empty"),
        pytest.param(b"  \n", "application/json", "an empty body", id="blank"),
        pytest.param(b"<!DOCTYPE html><html><title>Login</title></html>", "text/html",
                     "a non-JSON body (text/html)", id="html"),
        pytest.param(b"\x00\x9f garbage {", "application/octet-stream",
                     "a non-JSON body (application/octet-stream)", id="garbage"),
        pytest.param(b'{"truncated": ', "application/json", "a non-JSON body (application/json)",
                     id="truncated-json"),
    ],
)  # fmt: skip
def test_malformed_success_bodies(harness, content, content_type, what):
    script = Script(
        reply(200, content, headers={"content-type": content_type, "x-request-id": "rid-7"})
    )
    response = harness.request(script)
    assert response.status_code == 200
    assert response.content == content
    with pytest.raises(HFResponseError) as caught:
        response.json()
    message = str(caught.value)
    assert f"{URL} answered with success but sent {what}" in message
    assert "check base_url" in message
    assert caught.value.request_id == "rid-7"
    assert caught.value.body == content.decode("utf-8", "replace")[:500]


def test_a_huge_malformed_body_is_not_kept_whole(harness):
    response = harness.request(
        Script(reply(200, b"<p>" * 10_000, headers={"content-type": "text/html"}))
    )
    with pytest.raises(HFResponseError) as caught:
        response.json()
    assert len(caught.value.body) == 500
    assert len(str(caught.value)) < 400


def test_response_fields(harness):
    link = '<https://huggingface.co/api/models?cursor=abc&limit=2>; rel="next"'
    headers = {"x-request-id": "rid-1", "link": link, "x-compute-type": "cpu"}
    response = harness.request(
        Script(reply(200, [{"id": "a"}, {"id": "b"}], headers=headers)),
        "GET",
        "https://huggingface.co/api/models",
        params={"limit": 2},
    )
    assert response.json() == [{"id": "a"}, {"id": "b"}]
    assert response.request_id == "rid-1"
    assert response.next_url == "https://huggingface.co/api/models?cursor=abc&limit=2"
    assert response.headers["x-compute-type"] == "cpu"
    assert response.url == "https://huggingface.co/api/models?limit=2"


def test_no_link_no_next_url(harness):
    response = harness.request(Script(reply(200, {"a": 1})))
    assert response.next_url is None
    assert response.request_id is None


def test_other_success_statuses_are_answers(harness):
    response = harness.request(Script(reply(201, {"created": True})))
    assert (response.status_code, response.json()) == (201, {"created": True})
