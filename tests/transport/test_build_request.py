"""build_request's fast path for hfbridge's own clients builds what httpx's client would build."""

from __future__ import annotations

import httpx
import pytest

from hfbridge.errors import HFConfigError
from hfbridge.transport import ClientConfig
from hfbridge.transport._common import build_request
from hfbridge.transport._pool import is_own_client, new_async_client, new_sync_client

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
    from hfbridge.transport._common import build_timeout, encode_body

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
