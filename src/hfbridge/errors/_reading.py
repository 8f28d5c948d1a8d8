"""How an HTTP answer (status, headers, body) becomes a typed error; validation errors too."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from hfbridge._constants import ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, REQUEST_ID_HEADERS
from hfbridge._redact import redact, redact_url
from hfbridge.errors._kinds import _MAX_BODY_IN_MESSAGE, HFConfigError
from hfbridge.errors._status import (
    HFAuthenticationError,
    HFBadRequestError,
    HFModelLoadingError,
    HFNotFoundError,
    HFPayloadTooLargeError,
    HFPaymentRequiredError,
    HFPermissionError,
    HFQuotaExceededError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFUnprocessableError,
)

_BY_STATUS: dict[int, type[HFStatusError]] = {
    400: HFBadRequestError,
    401: HFAuthenticationError,
    402: HFPaymentRequiredError,
    403: HFPermissionError,
    404: HFNotFoundError,
    413: HFPayloadTooLargeError,
    422: HFUnprocessableError,
    429: HFRateLimitError,
}


def _decode_body(body: bytes | str, content_type: str) -> tuple[Any, str]:
    """Return ``(parsed JSON or None, text)``; HTML pages are reduced to their title."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    looks_html = text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
    if "html" in content_type.lower() or looks_html:
        start, end = text.lower().find("<title>"), text.lower().find("</title>")
        title = text[start + 7 : end].strip() if 0 <= start < end else "HTML error page"
        return None, f"{title} (HTML page, probably from a proxy or gateway)"
    try:
        return json.loads(text), text
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
        return None, text.strip()


def extract_error_message(parsed: Any, text: str = "") -> str:
    """Pull a human-readable message out of any error body shape the HF services send."""
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("msg") or json.dumps(error)[:200])
        if isinstance(error, str):
            description = parsed.get("error_description")
            return f"{error}: {description}" if description else error
        for key in ("error", "errors", "detail", "message"):
            value = parsed.get(key)
            if isinstance(value, list) and value:  # lists of problems (FastAPI's "detail")
                return "; ".join(_validation_problem(item) for item in value)
        for key in ("message", "detail"):
            if parsed.get(key):
                return str(parsed[key])
    return text[:_MAX_BODY_IN_MESSAGE]


def config_error_from(error: ValueError, owner: str) -> HFConfigError:
    """The :class:`HFConfigError` for a validation error of ``owner``'s settings.

    pydantic's ``ValidationError`` (duck-typed: anything with ``errors()``) is rewritten field by
    field; a rejected value is shown only when it is a number, a flag or ``None`` (a string may be
    a key).
    """
    items = error.errors() if callable(getattr(error, "errors", None)) else None  # type: ignore[attr-defined]
    if not isinstance(items, list):
        return HFConfigError(f"{owner} got an invalid setting: {error}")
    parts = []
    for item in items:
        where = ".".join(str(part) for part in item.get("loc", ())) or "a setting"
        value = item.get("input")
        shown = (
            repr(value)
            if value is None or isinstance(value, (bool, int, float))
            else f"a {type(value).__name__}"
        )
        parts.append(f"{where}: {item.get('msg', 'invalid')} (got {shown})")
    return HFConfigError(f"{owner} got an invalid setting: {'; '.join(parts)}.")


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The first request-id header the server sent (redacted: a server may echo the token there).

    ``headers`` must have lower-case keys (httpx's and aiohttp's headers match any case).
    """
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return redact(value)
    return None


def _validation_problem(item: Any) -> str:
    """One listed problem; a FastAPI one as ``body.messages: Field required`` (input left out)."""
    if not isinstance(item, dict):
        return str(item)
    location = item.get("loc")
    where = ".".join(map(str, location)) if isinstance(location, list) else ""
    message = item.get("msg") or item.get("message") or json.dumps(item)[:200]
    return f"{where}: {message}" if where else str(message)


_QUOTA_CODES = frozenset({"insufficient_quota"})


def _is_quota_exhausted(parsed: Any) -> bool:
    """Whether a body says "insufficient_quota" (OpenAI's code for an exhausted billing quota)."""
    if not isinstance(parsed, dict):
        return False
    error = parsed.get("error")
    fields = error if isinstance(error, dict) else parsed
    # ``in`` on a frozenset hashes its operand: a list or an object as the code is no quota code
    return any(
        isinstance(fields.get(key), str) and fields[key] in _QUOTA_CODES for key in ("code", "type")
    )


def _redact_json(value: Any) -> Any:
    """``value`` with every string redacted; walking it keeps the JSON valid whatever the secret."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    if isinstance(value, dict):
        return {redact(str(key)): _redact_json(item) for key, item in value.items()}
    return value


def _number(value: Any) -> float | None:
    """A finite, non-negative number of seconds, else ``None`` (a server's "-3", "nan", "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _hint(cls: type[HFStatusError], *, self_hosted: bool, **values: Any) -> str:
    if self_hosted and cls.hint_self_hosted:
        return cls.hint_self_hosted
    if values.get("model") is None and cls.hint_without_model:
        return cls.hint_without_model
    if isinstance(values.get("model"), str):
        values["model"] = values["model"].split(":")[0]  # the repo, without ':provider'
    filled = {key: (value if value is not None else "unknown") for key, value in values.items()}
    retry_after, estimated = values.get("retry_after"), values.get("estimated_time")
    filled["retry_after"] = (
        f"retry after {retry_after:.0f} s" if isinstance(retry_after, float) else "retry later"
    )
    filled["estimated_time"] = (
        f"about {estimated:.0f} s" if isinstance(estimated, float) else "no estimate given"
    )
    return cls.hint.format(**filled)


def error_from_response(  # noqa: PLR0913 - all are diagnostic context
    *,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes | str,
    method: str,
    url: str,
    model: str | None = None,
    provider: str | None = None,
    retry_after: float | None = None,
    self_hosted: bool = False,
) -> HFStatusError:
    """Build the typed error for a non-2xx answer. ``headers`` must have lower-case keys.

    ``self_hosted`` says the server is not Hugging Face's, so the advice leaves out the router's
    providers, credits and permissions.
    """
    parsed, text = _decode_body(body, headers.get("content-type", ""))
    # Redact before anything is cut to length, so that no fragment of a secret survives.
    text = redact(text)
    try:
        parsed = _redact_json(parsed)
    except RecursionError:  # deeper than Python's stack: keep the (redacted) text only
        parsed = None
    server_message = extract_error_message(parsed, text) or "(empty body)"
    header_message = redact(headers.get(ERROR_MESSAGE_HEADER) or "")
    if header_message and header_message not in server_message:
        server_message = f"{header_message}; {server_message}"
    request_id = request_id_from(headers)
    error_code = headers.get(ERROR_CODE_HEADER)
    error_code = redact(error_code) if error_code else None
    estimated_time = _number(parsed.get("estimated_time")) if isinstance(parsed, dict) else None

    cls: type[HFStatusError]
    loading = estimated_time is not None or "loading" in server_message.lower()
    if status_code == 503 and loading:  # noqa: PLR2004 - the one status that means "loading"
        cls = HFModelLoadingError
    elif status_code == 429 and _is_quota_exhausted(parsed):  # noqa: PLR2004 - see the class
        cls = HFQuotaExceededError
    elif status_code in _BY_STATUS:
        cls = _BY_STATUS[status_code]
    elif status_code >= 500:  # noqa: PLR2004
        cls = HFServerError
    else:
        cls = HFStatusError
    if error_code == "GatedRepo":  # the Hub's own signal: its advice holds on any host
        cls, self_hosted = HFPermissionError, False

    target = f" for model '{model}'" if model else ""
    via = f" via provider '{provider}'" if provider else ""
    message = (
        f"{method} {redact_url(url)} failed with HTTP {status_code}{target}{via}: "
        f"{server_message}. "
        + _hint(
            cls,
            self_hosted=self_hosted,
            model=model,
            retry_after=retry_after,
            estimated_time=estimated_time,
        )
    )
    if request_id:
        message += f" (request id: {request_id})"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": parsed if parsed is not None else text[:_MAX_BODY_IN_MESSAGE],
        "request_id": request_id,
        "url": url,
        "model": model,
        "provider": provider,
        "error_code": error_code,
        "retry_after": retry_after,
    }
    if cls is HFModelLoadingError:
        return HFModelLoadingError(message, estimated_time=estimated_time, **kwargs)
    return cls(message, **kwargs)
