"""What the sync and async clients share: request preparation, answers, errors, retry hooks."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hfbridge._json import loads
from hfbridge._redact import redact, redact_url
from hfbridge._urls import moved_router_origin, origin_of
from hfbridge.errors import (
    HFConfigError,
    HFConnectionError,
    HFError,
    HFResponseError,
    HFResponseTooLargeError,
    HFStatusError,
    HFStreamError,
    HFTimeoutError,
    error_from_response,
    request_id_from,
)
from hfbridge.transport._fastpath import is_own_client, own_request, parsed_url
from hfbridge.transport.auth import is_hf_origin
from hfbridge.transport.config import ClientConfig, check_header, connect_timeout, validate_timeout
from hfbridge.transport.retry import parse_ratelimit, parse_retry_after

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx

JSONBody = Mapping[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a request is about, for error messages: the model and the provider, when known."""

    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class HFResponse:
    """A complete (non-streamed) answer with a success status."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    request_id: str | None
    next_url: str | None = None

    def json(self) -> Any:
        """The body parsed as JSON; :class:`HFResponseError` if it is not JSON."""
        return decode_json(self.content, self.headers, self.request_id, self.url)


def decode_json(
    content: bytes, headers: Mapping[str, str], request_id: str | None, url: str
) -> Any:
    """Parse a success body, explaining what came back when it is not JSON."""
    try:
        return loads(content)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
        kind = headers.get("content-type", "no content type")
        text = content.decode("utf-8", "replace")
        what = "an empty body" if not content.strip() else f"a non-JSON body ({kind})"
        raise HFResponseError(
            f"{redact_url(url)} answered with success but sent {what}: the URL may point at "
            "something other than an inference API (check base_url), or a proxy rewrote the "
            "answer.",
            body=text,
            request_id=request_id,
        ) from None


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The first request-id header the server sent, redacted (see ``errors.request_id_from``)."""
    return request_id_from(headers)


def absolute_url(config: ClientConfig, url: str) -> str:
    """``url`` if absolute, else joined to the client's base URL."""
    if url.startswith(("http://", "https://")):
        return url
    return f"{config.base_url}/{url.lstrip('/')}"


def build_timeout(config: ClientConfig, timeout: float | None) -> httpx.Timeout:
    """The httpx timeout for a call (per-call override, else the client's)."""
    read = config.timeout if timeout is None else validate_timeout(timeout)
    return httpx.Timeout(read, connect=connect_timeout(read))


def encode_body(body: JSONBody) -> bytes | None:
    r"""Compact JSON, keys in insertion order (the wire layer puts ``model`` first).

    The one encoder every request body goes through, so the one place that refuses what JSON
    cannot carry, before any request: NaN and infinities, values that are not JSON (a ``set``, a
    ``datetime``...), integers too long to write, nesting too deep, and lone UTF-16 surrogates.
    Each raises :class:`HFConfigError` naming the field. Two halves of a character side by side
    (``"\ud83d\ude00"``) are joined into it.
    """
    if body is None:
        return None
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise unsendable_body(body, exc) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:  # surrogate pairs written as two code points: join them
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise unsendable_body(body, exc) from None


_MAX_DEPTH = 500


def unsendable_body(body: Any, error: BaseException) -> HFConfigError:
    """The error for a body JSON cannot carry, naming the first field at fault."""
    found = _first_problem(body, "", 0)
    where, problem = found if found is not None else ("", f"cannot be encoded ({error})")
    field = f"field {_shorten(where)!r}" if where else "the body"
    return HFConfigError(
        f"The request cannot be sent: {field} {problem}. Fix or drop that value (in the "
        "messages, the tools, or the parameters and extra body fields)."
    )


def _shorten(path: str, limit: int = 120) -> str:
    return path if len(path) <= limit else f"{path[:60]}...{path[-50:]}"


def _first_problem(value: Any, path: str, depth: int) -> tuple[str, str] | None:  # noqa: PLR0911
    """``(path, problem)`` of the first value JSON cannot carry, else ``None``."""
    if depth > _MAX_DEPTH:
        return path, f"is nested more than {_MAX_DEPTH} levels deep"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _lone_surrogate(value, path)
    if isinstance(value, int):
        digits = value.bit_length() * 0.30103
        return (path, f"is an integer of about {digits:,.0f} digits") if digits > 4000 else None  # noqa: PLR2004
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"is {value!r}, which JSON cannot carry")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return path, f"has a key of type {type(key).__name__}, which is not JSON"
            found = (
                _first_problem(key, f"{path}.{key}" if path else str(key), depth + 1)
                if (isinstance(key, str))
                else None
            )
            found = found or _first_problem(item, f"{path}.{key}" if path else str(key), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            found = _first_problem(item, f"{path}[{position}]", depth + 1)
            if found:
                return found
        return None
    return path, f"is a {type(value).__name__}, which is not JSON"


def _lone_surrogate(text: str, path: str) -> tuple[str, str] | None:
    try:
        text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError as exc:
        half = text[exc.start // 2] if exc.start // 2 < len(text) else "?"
        return path, (
            f"holds a lone UTF-16 surrogate (U+{ord(half):04X}, half of a character), which no "
            "encoding can carry"
        )
    return None


def build_request(  # noqa: PLR0913 - the parts of one request
    client: httpx.Client | httpx.AsyncClient,
    config: ClientConfig,
    method: str,
    url: str,
    *,
    json_body: JSONBody,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
) -> httpx.Request:
    """An httpx request with hfbridge's headers; the token only where it may go."""
    full_url = absolute_url(config, url)
    try:
        target = parsed_url(full_url)
    except httpx.InvalidURL as exc:  # not an httpx.HTTPError: it would escape untyped
        raise HFConfigError(
            f"{redact_url(full_url)!r} is not a valid URL ({exc}): check base_url and the route."
        ) from exc
    request_headers = config.headers_for(full_url)
    if headers:
        checked = (check_header(k, v, what="extra header") for k, v in headers.items())
        request_headers = {**request_headers, **{k.lower(): v for k, v in checked}}
    if not params and is_own_client(client):
        # What client.build_request would build (the tests compare the two), for half its cost:
        # our clients have httpx's default headers, no cookies and no base URL, so the merged
        # headers and the timeout are the same for every call and are built once.
        read = config.timeout if timeout is None else validate_timeout(timeout)
        return own_request(
            client, method, target, content=encode_body(json_body), headers=request_headers,
            extra=bool(headers), read_timeout=read,
        )  # fmt: skip
    return client.build_request(
        method,
        target,
        content=encode_body(json_body),
        params=params,
        headers=request_headers,
        timeout=build_timeout(config, timeout),
    )


def _requested_wait(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` when present, else the Hub's exhausted ``RateLimit`` reset time."""
    wait = parse_retry_after(headers.get("retry-after"))
    return wait if wait is not None else parse_ratelimit(headers.get("ratelimit"))


def status_error(response: httpx.Response, body: bytes, context: CallContext) -> HFStatusError:
    """The typed error for a non-success answer whose body has been read."""
    return error_from_response(
        status_code=response.status_code,
        headers=response.headers,
        body=body,
        method=response.request.method,
        url=str(response.request.url),
        model=context.model,
        provider=context.provider,
        retry_after=_requested_wait(response.headers),
        self_hosted=not is_router_or_hub(str(response.request.url)),
    )


def is_router_or_hub(url: str) -> bool:
    """Whether ``url`` is Hugging Face's (a Hub origin, the router's, or the moved router's)."""
    origin = origin_of(url)
    return is_hf_origin(origin) or (origin is not None and origin == moved_router_origin())


@functools.cache
def _timeout_kinds() -> dict[type[httpx.TimeoutException], str]:
    # Built on first use: reading httpx's classes would import httpx with this module.
    return {
        httpx.ConnectTimeout: "connect",
        httpx.PoolTimeout: "pool",
        httpx.WriteTimeout: "write",
        httpx.ReadTimeout: "read",
    }


def transport_error(exc: httpx.HTTPError, method: str, url: str, context: CallContext) -> HFError:
    """Translate an httpx failure into hfbridge's vocabulary."""
    target = f" (model '{context.model}')" if context.model else ""
    where = f"{method} {redact_url(url)}{target}"
    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = _timeout_kinds().get(type(exc), "read")
        sent = kind == "read"
        advice = (
            "The server may be overloaded or a cold model is starting: raise timeout=..., or "
            "retry later (a read timeout is not retried automatically: the server may be "
            "generating, and each attempt may be billed)."
            if sent
            else "The request never reached the server; it is retried automatically up to "
            "max_retries. Check the URL and your network, or raise timeout=..."
        )
        return HFTimeoutError(
            f"{where} timed out ({kind} timeout: {detail}). {advice}", kind=kind, request_sent=sent
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return HFResponseError(f"{where} was redirected too many times: check the URL.")
    return HFConnectionError(
        f"{where} failed before an answer arrived ({type(exc).__name__}: {detail}). "
        "Check the URL and your network; the request is retried automatically up to max_retries."
    )


def stream_broken(exc: BaseException, url: str, received: int) -> HFStreamError:
    """The error for a stream cut after some events were handed out."""
    return HFStreamError(
        f"The stream from {redact_url(url)} broke after {received} event(s) "
        f"({type(exc).__name__}: {redact(str(exc))}); the output is incomplete. Retry the call."
    )


def parse_event(payload: str, url: str) -> Any:
    """One SSE payload as JSON; an ``error`` payload becomes :class:`HFStreamError`."""
    try:
        event = loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
        raise HFStreamError(
            f"The stream from {redact_url(url)} sent an event that is not JSON: "
            f"{redact(payload)[:200]!r}."
        ) from None
    if isinstance(event, dict) and (event.get("error") or event.get("object") == "error"):
        # {"error": ...} (TGI, OpenAI), or vLLM's {"object": "error", "message", "type", "code"}
        error = event.get("error") or event
        error_type = event.get("error_type")
        status: Any = None
        if isinstance(error, dict):
            message = str(error.get("message") or error)
            error_type = error_type or error.get("type")
            status = error.get("http_status_code") or error.get("code")
        else:
            message = str(error)
        http_status = isinstance(status, int) and 100 <= status <= 599  # noqa: PLR2004 - not 40301
        raise HFStreamError(
            f"The server reported an error inside the stream from {redact_url(url)}: {message}",
            error_type=str(error_type) if error_type else None,
            status_code=status if http_status else None,
        )
    return event


def is_json_answer(headers: Mapping[str, str]) -> bool:
    """True when a streaming request got a plain JSON document instead of an event stream."""
    content_type = headers.get("content-type", "")
    return "json" in content_type and "event-stream" not in content_type


def json_instead_of_stream(body: bytes, response: httpx.Response, context: CallContext) -> HFError:
    """The error for a JSON answer to a stream request (raises at once if it reports an error)."""
    url, request_id = str(response.url), request_id_of(response.headers)
    payload = decode_json(body, response.headers, request_id, url)
    parse_event(body.decode("utf-8", "replace"), url)  # raises when the document reports an error
    kind = f"keys {sorted(payload)[:5]}" if isinstance(payload, dict) else type(payload).__name__
    target = f" for model '{context.model}'" if context.model else ""
    return HFResponseError(
        f"{redact_url(url)} sent a JSON document ({kind}) instead of an event stream: the server "
        f"does not stream on this route{target}. Call it without streaming.",
        body=body.decode("utf-8", "replace"),
        request_id=request_id,
    )


def stream_idle(url: str, received: int, seconds: float) -> HFError:
    """The error for a stream that sent no event for ``seconds`` (``stream_idle_timeout``).

    Before any event: :class:`HFTimeoutError` (not retried: the server has the request); after
    some: :class:`HFStreamError`, the output being incomplete.
    """
    what = (
        f"The stream from {redact_url(url)} sent no event for {seconds:g} s "
        "(stream_idle_timeout; keep-alive comments do not count)"
    )
    if received == 0:
        return HFTimeoutError(
            f"{what}. The server may be overloaded: raise stream_idle_timeout=... or timeout=..., "
            "or retry later.",
            kind="idle",
        )
    return HFStreamError(
        f"{what} after {received} event(s); the output is incomplete. Retry the call, or raise "
        "stream_idle_timeout=..."
    )


def line_too_long(url: str, limit: int) -> HFResponseTooLargeError:
    """The error for an event-stream line past ``max_line_bytes``."""
    return HFResponseTooLargeError(
        f"The stream from {redact_url(url)} sent a line longer than {limit:,} bytes "
        "(max_line_bytes); the output is incomplete. If such events are expected, raise the cap: "
        "ClientConfig.create(..., max_line_bytes=...), passed as HFClient(config).",
        limit=limit,
        setting="max_line_bytes",
    )


def stream_cut(url: str, received: int, expects: str = "") -> HFStreamError:
    """The error for a stream whose body ended without ``[DONE]`` before it was complete.

    ``expects`` is what the stream's end rule waited for (``transport.sse.StreamEndRule``).
    """
    before = f" and before {expects}" if expects else ""
    return HFStreamError(
        f"The stream from {redact_url(url)} ended after {received} event(s) without [DONE]"
        f"{before}: the connection was probably cut and the output is incomplete. Retry the call."
    )


def answer(response: httpx.Response, context: CallContext) -> HFResponse:
    """The complete answer whose body has been read, or its typed error (non-2xx)."""
    if response.status_code >= 400:  # noqa: PLR2004
        raise status_error(response, response.content, context)
    return HFResponse(
        status_code=response.status_code,
        headers=response.headers,
        content=response.content,
        url=str(response.url),
        request_id=request_id_of(response.headers),
        next_url=response.links.get("next", {}).get("url"),
    )


def not_a_stream(response: httpx.Response) -> bool:
    """Whether a stream request's answer is an error or a plain JSON document (read it whole)."""
    return response.status_code >= 400 or is_json_answer(response.headers)  # noqa: PLR2004


def not_a_stream_error(response: httpx.Response, body: bytes, context: CallContext) -> HFError:
    """The error for an answer :func:`not_a_stream` flagged, once its body has been read."""
    if response.status_code >= 400:  # noqa: PLR2004
        return status_error(response, body, context)
    return json_instead_of_stream(body, response, context)
