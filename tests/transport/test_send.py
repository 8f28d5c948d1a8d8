"""Requests of hfbridge's own clients go to the transport directly; redirects follow httpx's rules."""

from __future__ import annotations

import httpx
import pytest

from hfbridge.transport import HFClient
from hfbridge.transport._pool import direct_transport, new_sync_client
from hfbridge.transport._send import redirected, send_request

ORIGINS = [
    "http://a.example/v1/x",
    "https://a.example/v1/x",
    "https://a.example:8443/v1/x",
]
LOCATIONS = [
    "/v2/y",  # same origin, relative
    "https://a.example/v2/y",  # http -> https upgrade on the default ports (or same origin)
    "https://b.example/v2/y",  # another host
    "http://a.example:8080/v2/y",  # another port
]


@pytest.fixture(scope="module")
def oracle():
    """An httpx client whose own redirect builder is the reference (built once: TLS setup)."""
    with httpx.Client() as client:
        yield client


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["POST", "GET", "HEAD", "PUT"])
def test_the_next_request_is_the_one_httpx_would_send(oracle, origin, location, status, method):
    client = oracle
    content = b'{"a": 1}' if method in ("POST", "PUT") else None
    request = client.build_request(
        method, origin, content=content,
        headers={"authorization": "Bearer hf_x", "cookie": "c=1", "x-extra": "kept"},
    )  # fmt: skip
    response = httpx.Response(status, headers={"location": location}, request=request)

    ours = redirected(request, response)
    reference = client._build_redirect_request(request, response)

    assert ours.method == reference.method
    assert ours.url == reference.url
    assert ours.headers.get("authorization") == reference.headers.get("authorization")
    assert ours.headers["host"] == reference.headers["host"]
    assert "cookie" not in ours.headers
    assert ours.headers["x-extra"] == "kept"
    reference_body = b"".join(reference.stream) if reference.stream is not None else b""
    assert ours.content == reference_body
    assert ours.headers.get("content-length", "0") == reference.headers.get("content-length", "0")


def answer_with_redirect(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/old":
        return httpx.Response(307, headers={"location": "https://other.example/v1/new"})
    return httpx.Response(
        200,
        json={
            "path": request.url.path,
            "auth": request.headers.get("authorization"),
            "body": request.content.decode(),
        },
    )


def test_an_own_client_sends_to_its_transport_and_follows_a_redirect():
    transport = httpx.MockTransport(answer_with_redirect)
    client = HFClient(token="hf_" + "t" * 30, base_url="https://router.huggingface.co/v1",
                      transport=transport)  # fmt: skip
    assert direct_transport(client.http) is transport

    answer = client.request("POST", "old", json={"q": 1}).json()

    assert answer == {"path": "/v1/new", "auth": None, "body": '{"q":1}'}


def test_streamed_and_read_answers_through_the_direct_path():
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=b"abc"))
    http = new_sync_client(True, transport)
    request = http.build_request("GET", "http://127.0.0.1:9/x")

    read = send_request(http, request)
    assert read.content == b"abc"
    assert read.request is request

    streamed = send_request(http, request, stream=True)
    assert b"".join(streamed.iter_bytes()) == b"abc"
    streamed.close()


def test_credentials_in_the_url_go_through_httpx():
    seen = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200)

    http = new_sync_client(True, httpx.MockTransport(record))
    send_request(http, http.build_request("GET", "http://user:pw@127.0.0.1:9/x"))
    assert seen == ["Basic dXNlcjpwdw=="]  # httpx's auth flow added it


def test_an_injected_client_is_not_bypassed():
    hooks = []
    injected = httpx.Client(
        transport=httpx.MockTransport(lambda _request: httpx.Response(200)),
        event_hooks={"request": [hooks.append]},
    )
    assert direct_transport(injected) is None
    send_request(injected, injected.build_request("GET", "http://127.0.0.1:9/x"))
    assert len(hooks) == 1
