"""The URLs of Hugging Face's inference services, and the check of a user's ``base_url``. Pure.

Below both ``transport`` and ``wire``: routes build their URLs from these, clients check theirs.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from hfbridge._constants import HF_INFERENCE_PROVIDER, ROUTER_URL
from hfbridge.errors import HFConfigError


def validate_base_url(url: str, *, what: str = "base_url") -> str:
    """Return ``url`` without a trailing slash; :class:`HFConfigError` if it is not usable."""
    if not isinstance(url, str) or not url.strip():
        raise HFConfigError(f"{what} must be a non-empty http(s) URL, got {url!r}.")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HFConfigError(f"{what} {url!r} is not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HFConfigError(
            f"{what} {url!r} is not an http(s) URL with a host: "
            "use e.g. 'http://127.0.0.1:8080/v1' or 'https://router.huggingface.co/v1'."
        )
    if port == 0:
        raise HFConfigError(f"{what} {url!r} has port 0.")
    return url.rstrip("/")


def provider_url(provider: str, route: str = "") -> str:
    """A provider-scoped router URL: ``https://router.huggingface.co/{provider}{route}``."""
    if not provider or "/" in provider:
        raise HFConfigError(f"provider must be a slug like 'together', got {provider!r}.")
    return f"{ROUTER_URL}/{provider}{route}"


def hf_inference_url(model: str, task: str | None = None) -> str:
    """The hf-inference task route for ``model`` (``.../pipeline/{task}`` for embeddings tasks)."""
    url = provider_url(HF_INFERENCE_PROVIDER, f"/models/{quote(model, safe='/')}")
    return f"{url}/pipeline/{task}" if task else url
