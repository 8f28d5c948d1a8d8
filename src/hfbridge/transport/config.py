"""Client settings and the URLs of Hugging Face's services.

:class:`ClientConfig` is everything that shapes a request (token, base URL, headers, timeouts,
retries). Connection pools do not depend on it, so every client shares them.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

from hfbridge._constants import (
    BILL_TO_HEADER,
    CONNECT_TIMEOUT,
    HF_INFERENCE_PROVIDER,
    HUB_ENDPOINT_ENV,
    HUB_URL,
    MAX_RETRIES,
    READ_TIMEOUT,
    ROUTER_URL,
    ROUTER_URL_ENV,
    ROUTER_V1_URL,
    USE_CACHE_HEADER,
)
from hfbridge._version import __version__
from hfbridge.errors import HFConfigError
from hfbridge.transport.auth import Secret, TokenSource, is_hf_host, resolve_token
from hfbridge.transport.retry import RetryPolicy


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


def hub_api_url() -> str:
    """The Hub API root: ``$HF_ENDPOINT/api`` when set, else ``https://huggingface.co/api``."""
    endpoint = os.environ.get(HUB_ENDPOINT_ENV) or HUB_URL
    return validate_base_url(endpoint, what=HUB_ENDPOINT_ENV) + "/api"


def router_url() -> str:
    """The router's root: ``$HFBRIDGE_ROUTER_URL`` (a gateway or a mirror), else Hugging Face's."""
    moved = os.environ.get(ROUTER_URL_ENV)
    return validate_base_url(moved, what=ROUTER_URL_ENV) if moved else ROUTER_URL


def router_v1_url() -> str:
    """The router's OpenAI-compatible root (``{router_url()}/v1``)."""
    return f"{router_url()}/v1"


_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an absolute http(s) URL, the port filled in from the scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in _DEFAULT_PORTS:
        return None
    default = _DEFAULT_PORTS[parts.scheme]
    return parts.scheme, parts.hostname.lower(), port if port is not None else default


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


def _user_agent() -> str:
    import httpx  # noqa: PLC0415 - keeps the version lookup next to its only use

    return f"hfbridge/{__version__}; python/{platform.python_version()}; httpx/{httpx.__version__}"


@dataclass(frozen=True)
class ClientConfig:
    """Settings of one logical client; :meth:`create` validates them and resolves the token.

    ``timeout`` is the read timeout in seconds (connect is capped at 10 s); ``base_url`` defaults to
    the router's OpenAI-compatible root. ``router_origin`` is the origin of ``HFBRIDGE_ROUTER_URL``
    when it moved the router (read by :meth:`create`): it receives the token like a Hugging Face
    host.
    """

    token: Secret | None = None
    token_source: TokenSource = "none"  # noqa: S105 - where a token came from, not a token
    base_url: str = ROUTER_V1_URL
    bill_to: str | None = None
    timeout: float = READ_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: tuple[tuple[str, str], ...] = ()
    use_cache: bool | None = None
    verify: bool | str = True
    router_origin: Origin | None = None

    @classmethod
    def create(  # noqa: PLR0913 - mirrors the public constructor arguments
        cls,
        *,
        token: str | Secret | None = None,
        base_url: str | None = None,
        bill_to: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        use_cache: bool | None = None,
        verify: bool | str = True,
    ) -> ClientConfig:
        """Validate the arguments and resolve the token (explicit, env, or token file)."""
        secret, source = resolve_token(token)
        return cls(
            token=secret,
            token_source=source,
            base_url=validate_base_url(base_url) if base_url is not None else router_v1_url(),
            bill_to=bill_to or None,
            timeout=validate_timeout(timeout) if timeout is not None else READ_TIMEOUT,
            retry=RetryPolicy(max_retries=MAX_RETRIES if max_retries is None else max_retries),
            headers=tuple((str(k), str(v)) for k, v in (headers or {}).items()),
            use_cache=use_cache,
            verify=verify,
            router_origin=moved_router_origin(),
        )

    @classmethod
    def resolve(cls, config: ClientConfig | None, **settings: Any) -> ClientConfig:
        """``config`` as given, or one created from ``settings``; never a silent mix of both."""
        if config is None:
            return cls.create(**settings)
        given = sorted(
            name
            for name, value in settings.items()
            if value is not None and not (name == "verify" and value is True)
        )
        if given:
            raise HFConfigError(
                f"pass either config= or individual settings, not both (got config and {given}): "
                "build the config with ClientConfig.create(...) including those settings."
            )
        return config

    @cached_property
    def _base_host(self) -> str | None:
        return urlsplit(self.base_url).hostname

    @cached_property
    def static_headers(self) -> dict[str, str]:
        """Headers sent on every request, whatever the host."""
        result = {"user-agent": _user_agent(), "content-type": "application/json"}
        if self.use_cache is not None:
            result[USE_CACHE_HEADER] = "true" if self.use_cache else "false"
        result.update({key.lower(): value for key, value in self.headers})
        return result

    @cached_property
    def trusted_headers(self) -> dict[str, str]:
        """Static headers plus the credentials, for hosts allowed to receive the token."""
        result = dict(self.static_headers)
        if self.token:
            result["authorization"] = f"Bearer {self.token.get_secret_value()}"
        if self.bill_to:
            result[BILL_TO_HEADER.lower()] = self.bill_to
        return result

    def may_receive_token(self, host: str | None, origin: Origin | None = None) -> bool:
        """Whether a request to ``host`` (whose URL has ``origin``) may carry the token.

        HF hosts and the moved router's origin always; the custom base URL's host only when the
        token was passed explicitly.
        """
        if is_hf_host(host):
            return True
        if host is None:
            return False
        if self.router_origin is not None and origin == self.router_origin:
            return True
        explicit = self.token_source == "explicit"  # noqa: S105 - a source label, not a token
        return explicit and host == self._base_host

    def headers_for(self, host: str | None, origin: Origin | None = None) -> dict[str, str]:
        """The headers for a request to ``host`` (at ``origin``: scheme, host, port)."""
        if self.may_receive_token(host, origin):
            return self.trusted_headers
        return self.static_headers

    def __getstate__(self) -> dict[str, object]:
        # Only the fields: the cached header dicts hold the token in clear (rebuilt on use).
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, token={'set' if self.token else 'none'} "
            f"({self.token_source}), bill_to={self.bill_to!r}, timeout={self.timeout}, "
            f"max_retries={self.retry.max_retries})"
        )


def validate_timeout(timeout: float) -> float:
    """Return ``timeout`` as a float, or raise :class:`HFConfigError` if it is not positive."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise HFConfigError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    return float(timeout)


def connect_timeout(read_timeout: float) -> float:
    """Connect timeout for a given read timeout: 10 s at most."""
    return min(CONNECT_TIMEOUT, read_timeout)
