"""The httpx fast paths (transport/_fastpath.py) against httpx itself: each shortcut builds or sends
what httpx's own machinery would.

- Requests of hfbridge's own clients are built as ``client.build_request`` builds them.
- They go to the transport directly, and a redirect is followed by httpx's rules.
"""

from __future__ import annotations

import httpx
import pytest

from hfbridge.errors import HFConfigError
from hfbridge.transport import ClientConfig, HFClient
from hfbridge.transport._common import build_request, build_timeout, encode_body
from hfbridge.transport._fastpath import direct_transport, is_own_client
from hfbridge.transport._pool import new_async_client, new_sync_client
from hfbridge.transport._send import redirected, send_request

# --- building -------------------------------------------------------------------------------------

BODY = {"model": "m", "messages": [{"role": "user", "content": "héllo"}]}


def snapshot(request: httpx.Request) -> tuple[object, ...]:
    return (
        request.method,
        str(request.url),
        request.headers.raw,  # names, values and order
        request.content,
        request.extensions,
    )


def httpx_built(client, config, url, *, headers=None, timeout=None):
    """The request as httpx's own per-request merging builds it (the reference)."""
    request_headers = config.headers_for(config.base_url + "/" + url)
    if headers:
        request_headers = {**request_headers, **{k.lower(): v for k, v in headers.items()}}
    return client.build_request(
        "POST",
        f"{config.base_url}/{url}",
        content=encode_body(BODY),
        headers=request_headers,
        timeout=build_timeout(config, timeout),
    )


CONFIGS = [
    ClientConfig.create(token="hf_" + "a" * 30, base_url="https://router.huggingface.co/v1"),
    ClientConfig.create(
        token="hf_" + "b" * 30,
        base_url="http://127.0.0.1:8080/v1",
        bill_to="org",
        headers={"X-Custom": "1"},
        timeout=7,
    ),
    ClientConfig.create(base_url="http://127.0.0.1:8080/v1", use_cache=False),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("headers", [None, {"X-Extra": "e", "User-Agent": "mine"}])
@pytest.mark.parametrize("timeout", [None, 3.5])
@pytest.mark.parametrize("make", [new_sync_client, new_async_client])
def test_fast_path_equals_httpx_merging(config, headers, timeout, make):
    client = make(True, httpx.MockTransport(lambda _request: httpx.Response(200)))
    assert is_own_client(client)
    for _ in range(2):  # the second build comes from the cached merge
        fast = build_request(
            client, config, "POST", "chat/completions",
            json_body=BODY, params=None, headers=headers, timeout=timeout,
        )  # fmt: skip
        reference = httpx_built(client, config, "chat/completions", headers=headers, timeout=timeout)
        assert snapshot(fast) == snapshot(reference)


def test_the_cached_merge_is_never_changed_by_per_call_headers():
    client = new_sync_client(True)
    config = CONFIGS[0]
    build_request(client, config, "POST", "x", json_body=BODY, params=None,
                  headers={"X-Once": "1"}, timeout=None)  # fmt: skip
    later = build_request(client, config, "POST", "x", json_body=BODY, params=None,
                          headers=None, timeout=None)  # fmt: skip
    assert "x-once" not in later.headers


def test_an_injected_client_keeps_its_own_headers_and_cookies():
    injected = httpx.Client(headers={"X-Team": "t"}, cookies={"session": "s"})
    assert not is_own_client(injected)
    request = build_request(injected, CONFIGS[2], "POST", "x", json_body=BODY, params=None,
                            headers=None, timeout=None)  # fmt: skip
    assert request.headers["x-team"] == "t"
    assert request.headers["cookie"] == "session=s"


def test_a_bad_per_call_timeout_is_refused_on_the_fast_path():
    with pytest.raises(HFConfigError, match="timeout"):
        build_request(new_sync_client(True), CONFIGS[0], "POST", "x", json_body=BODY,
                      params=None, headers=None, timeout=-1)  # fmt: skip


# --- sending --------------------------------------------------------------------------------------

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
