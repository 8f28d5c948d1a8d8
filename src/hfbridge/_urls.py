"""The URLs of Hugging Face's inference services, and the check of a user's ``base_url``.

Below both ``transport`` and ``wire``: routes build their URLs from these, clients check theirs.
No I/O; the router's root follows ``$HFBRIDGE_ROUTER_URL`` when it is set (a gateway, a mirror).
"""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import quote, urlsplit

from hfbridge._constants import HF_INFERENCE_PROVIDER, ROUTER_URL, ROUTER_URL_ENV
from hfbridge._redact import redact_url
from hfbridge.errors import HFConfigError


def validate_base_url(url: str, *, what: str = "base_url") -> str:
    """Return ``url`` without a trailing slash; :class:`HFConfigError` if it is not usable.

    Refused, besides what is not an http(s) URL with a host: credentials in the URL
    (``user:password@``: they would show wherever the URL does, in ``repr``, dumps and logs; pass
    them as ``token=...`` or in ``default_headers`` instead), and a query or fragment (routes are
    appended to the path, so they would land after the ``?``).
    """
    if not isinstance(url, str) or not url.strip():
        raise HFConfigError(f"{what} must be a non-empty http(s) URL, got {url!r}.")
    url = url.strip()
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HFConfigError(f"{what} {shown!r} is not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HFConfigError(
            f"{what} {shown!r} is not an http(s) URL with a host: "
            "use e.g. 'http://127.0.0.1:8080/v1' or 'https://router.huggingface.co/v1'."
        )
    if parts.username is not None or parts.password is not None:
        raise HFConfigError(
            f"{what} {shown!r} carries credentials (user:password@), which would show wherever the "
            "URL does: remove them and pass the key as token=... (sent as 'Authorization: Bearer') "
            "or as a header, e.g. default_headers={'Authorization': 'Basic ...'}."
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise HFConfigError(
            f"{what} {shown!r} has a query or fragment: routes are appended to its path, so they "
            "would land after the '?'. Pass the root URL only (e.g. 'http://127.0.0.1:8080/v1'); "
            "send query-string credentials as a header instead."
        )
    if port == 0:
        raise HFConfigError(f"{what} {shown!r} has port 0.")
    return url.rstrip("/")


def router_url() -> str:
    """The router's root: ``$HFBRIDGE_ROUTER_URL`` (a gateway or a mirror), else Hugging Face's."""
    moved = os.environ.get(ROUTER_URL_ENV)
    return validate_base_url(moved, what=ROUTER_URL_ENV) if moved else ROUTER_URL


def router_v1_url() -> str:
    """The router's OpenAI-compatible root (``{router_url()}/v1``)."""
    return f"{router_url()}/v1"


_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]
"""``(scheme, host, port)`` of a URL: host lower-cased without a trailing dot, port explicit."""


@lru_cache(maxsize=256)
def origin_of(url: str | None) -> Origin | None:
    """The ``(scheme, host, port)`` of an absolute ``url``; ``None`` when it has no host."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def moved_router_origin() -> Origin | None:
    """The origin of ``$HFBRIDGE_ROUTER_URL`` when the user moved the router, else ``None``.

    That origin is trusted like a Hugging Face host (a discovered token goes to it): the user named
    it as the router. Only the exact origin: another port or scheme of the same host is not it.
    """
    moved = os.environ.get(ROUTER_URL_ENV)
    return origin_of(validate_base_url(moved, what=ROUTER_URL_ENV)) if moved else None


def provider_url(provider: str, route: str = "") -> str:
    """A provider-scoped router URL: ``{router_url()}/{provider}{route}``."""
    if not provider or "/" in provider:
        raise HFConfigError(f"provider must be a slug like 'together', got {provider!r}.")
    return f"{router_url()}/{provider}{route}"


def hf_inference_url(model: str, task: str | None = None) -> str:
    """The hf-inference task route for ``model`` (``.../pipeline/{task}`` for embeddings tasks)."""
    url = provider_url(HF_INFERENCE_PROVIDER, f"/models/{quote(model, safe='/')}")
    return f"{url}/pipeline/{task}" if task else url
