"""Client settings and the URLs of Hugging Face's services.

:class:`ClientConfig` is everything that shapes a request (token, base URL, headers, timeouts,
retries). Connection pools do not depend on it, so every client shares them.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, TypedDict

from typing_extensions import Unpack

from hfbridge._constants import (
    BILL_TO_HEADER,
    CONNECT_TIMEOUT,
    HUB_ENDPOINT_ENV,
    HUB_URL,
    MAX_BODY_BYTES,
    MAX_LINE_BYTES,
    MAX_RETRIES,
    READ_TIMEOUT,
    ROUTER_V1_URL,
    STREAM_IDLE_TIMEOUT,
    USE_CACHE_HEADER,
)
from hfbridge._redact import is_credential_header, register_secret
from hfbridge._urls import (  # noqa: F401 - origin_of and router_url are read from here too
    Origin,
    moved_router_origin,
    origin_of,
    router_url,
    router_v1_url,
    validate_base_url,
)
from hfbridge._version import __version__
from hfbridge.errors import HFConfigError
from hfbridge.errors._checks import positive_int, positive_seconds
from hfbridge.transport.auth import (
    Secret,
    TokenSource,
    is_hf_origin,
    public_headers,
    resolve_token,
)
from hfbridge.transport.retry import RetryPolicy

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 token
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, space and tab: no CR, LF, NUL


def check_header(name: Any, value: Any, *, what: str = "header") -> tuple[str, str]:
    """``(name, value)`` as strings; :class:`HFConfigError` unless both can go on the wire.

    A name must be an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``: no spaces or colons);
    a value printable ASCII (no CR or LF, which would split the header, and no other control or
    non-ASCII character). The value is never shown: it may be a key.
    """
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        raise HFConfigError(
            f"{what} name {name!r} is not a valid HTTP header name: use letters, digits and "
            "'-' (no spaces, colons or control characters)."
        )
    if not isinstance(value, str):
        raise HFConfigError(
            f"{what} {name!r} must have a string value, got {type(value).__name__}."
        )
    if not _HEADER_VALUE.match(value):
        raise HFConfigError(
            f"{what} {name!r} has a value with a line break, a control or a non-ASCII character, "
            "which HTTP headers cannot carry: remove it (percent- or base64-encode text if the "
            "server expects that)."
        )
    return name, value


def hub_api_url() -> str:
    """The Hub API root: ``$HF_ENDPOINT/api`` when set, else ``https://huggingface.co/api``."""
    endpoint = os.environ.get(HUB_ENDPOINT_ENV) or HUB_URL
    return validate_base_url(endpoint, what=HUB_ENDPOINT_ENV) + "/api"


def _user_agent() -> str:
    import httpx  # noqa: PLC0415 - keeps the version lookup next to its only use

    return f"hfbridge/{__version__}; python/{platform.python_version()}; httpx/{httpx.__version__}"


class ClientSettings(TypedDict, total=False):
    """The settings of a client, as keyword arguments (:meth:`ClientConfig.create`, the clients).

    A new connection setting is declared here, given its effect in :class:`ClientConfig`, and
    exposed by every adapter through one field in :mod:`hfbridge.inference.settings`.
    """

    token: str | Secret | None
    """Explicit token; ``None``: ``HF_TOKEN``, then the token file (sent to Hugging Face only)."""
    base_url: str | None
    """Root of relative URLs; ``None``: the router's OpenAI-compatible root."""
    bill_to: str | None
    """Organisation billed for router calls (``X-HF-Bill-To``)."""
    timeout: float | None
    """Read timeout in seconds (connect is capped at 10 s)."""
    max_retries: int | None
    """Retries after the first attempt."""
    headers: Mapping[str, str] | None
    """Headers sent with every request."""
    use_cache: bool | None
    """``x-use-cache`` for hf-inference (``None``: not sent)."""
    verify: bool | str
    """TLS verification: ``True``, ``False`` or a CA bundle path."""
    stream_idle_timeout: float | None
    """Seconds a stream may go without an event (comments do not count); ``None``: ``timeout``."""
    max_body_bytes: int | None
    """Largest answer body kept, once decoded (``None``: 64 MiB)."""
    max_line_bytes: int | None
    """Largest line of an event stream (``None``: 16 MiB)."""


@dataclass(frozen=True)
class ClientConfig:
    """Settings of one logical client; :meth:`create` validates them and resolves the token.

    ``timeout`` bounds, per attempt, the wait for the answer's headers and every silence in a body
    (connect is capped at 10 s); ``stream_idle_timeout`` the wait for a stream's next event
    (``None``: ``timeout``). ``max_body_bytes`` caps a decoded answer body and ``max_line_bytes``
    one line of an event stream. ``base_url`` defaults to the router's OpenAI-compatible root.
    ``router_origin`` is the origin of ``HFBRIDGE_ROUTER_URL`` when it moved the router (read by
    :meth:`create`): it receives the token like a Hugging Face host.
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
    stream_idle_timeout: float | None = STREAM_IDLE_TIMEOUT
    max_body_bytes: int = MAX_BODY_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    router_origin: Origin | None = None

    @classmethod
    def create(cls, **settings: Unpack[ClientSettings]) -> ClientConfig:
        """Validate the settings (:class:`ClientSettings`) and resolve the token."""
        secret, source = resolve_token(settings.get("token"))
        base_url, timeout = settings.get("base_url"), settings.get("timeout")
        max_retries, bill_to = settings.get("max_retries"), settings.get("bill_to")
        idle = settings.get("stream_idle_timeout")
        checked = tuple(check_header(k, v) for k, v in (settings.get("headers") or {}).items())
        for name, value in checked:
            if is_credential_header(name):
                register_secret(value)  # redacted from every log line and error from now on
        if bill_to:
            check_header(BILL_TO_HEADER, bill_to, what="bill_to")
        return cls(
            token=secret,
            token_source=source,
            base_url=validate_base_url(base_url) if base_url is not None else router_v1_url(),
            bill_to=settings.get("bill_to") or None,
            timeout=validate_timeout(timeout) if timeout is not None else READ_TIMEOUT,
            retry=RetryPolicy(max_retries=MAX_RETRIES if max_retries is None else max_retries),
            headers=checked,
            use_cache=settings.get("use_cache"),
            verify=settings.get("verify", True),
            stream_idle_timeout=(
                validate_timeout(idle, what="stream_idle_timeout")
                if idle is not None
                else STREAM_IDLE_TIMEOUT
            ),
            max_body_bytes=_size(settings.get("max_body_bytes"), MAX_BODY_BYTES, "max_body_bytes"),
            max_line_bytes=_size(settings.get("max_line_bytes"), MAX_LINE_BYTES, "max_line_bytes"),
            router_origin=moved_router_origin(),
        )

    @property
    def idle_timeout(self) -> float:
        """Seconds a stream may go without an event."""
        return self.timeout if self.stream_idle_timeout is None else self.stream_idle_timeout

    @classmethod
    def resolve(
        cls, config: ClientConfig | None, **settings: Unpack[ClientSettings]
    ) -> ClientConfig:
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
    def _base_origin(self) -> Origin | None:
        return origin_of(self.base_url)

    @cached_property
    def static_headers(self) -> dict[str, str]:
        """Headers sent on every request, whatever the origin (no credential among them)."""
        result = {"user-agent": _user_agent(), "content-type": "application/json"}
        if self.use_cache is not None:
            result[USE_CACHE_HEADER] = "true" if self.use_cache else "false"
        result.update({key.lower(): value for key, value in public_headers(self.headers).items()})
        return result

    @cached_property
    def _credential_headers(self) -> dict[str, str]:
        return {key.lower(): value for key, value in self.headers if is_credential_header(key)}

    @cached_property
    def trusted_headers(self) -> dict[str, str]:
        """Static headers plus every credential, for origins allowed to receive the token."""
        result = {**self.static_headers, **self._credential_headers}
        if self.token:
            result["authorization"] = f"Bearer {self.token.get_secret_value()}"
        if self.bill_to:
            result[BILL_TO_HEADER.lower()] = self.bill_to
        return result

    @cached_property
    def _base_headers(self) -> dict[str, str]:
        # The base URL's origin with a discovered token: the headers given for it, never the token.
        return {**self.static_headers, **self._credential_headers}

    def may_receive_token(self, url: str | None) -> bool:
        """Whether a request to ``url`` may carry the token (trust is per origin).

        HF origins and the moved router's origin always; the base URL's origin only when the token
        was passed explicitly.
        """
        origin = origin_of(url)
        if is_hf_origin(origin):
            return True
        if self.router_origin is not None and origin == self.router_origin:
            return True
        explicit = self.token_source == "explicit"  # noqa: S105 - a source label, not a token
        return explicit and origin is not None and origin == self._base_origin

    def headers_for(self, url: str | None) -> dict[str, str]:
        """The headers for a request to the absolute ``url`` (trust is per origin).

        Credential headers (``default_headers`` naming a key, token, secret or auth) go where an
        explicit token would: Hugging Face origins and the base URL's origin.
        """
        if self.may_receive_token(url):
            return self.trusted_headers
        if origin_of(url) == self._base_origin:
            return self._base_headers
        return self.static_headers

    def __getstate__(self) -> dict[str, object]:
        # Only the fields: the cached header dicts hold the token in clear (rebuilt on use). The
        # token (a Secret) pickles empty, and credential headers are left out likewise.
        state = {item.name: getattr(self, item.name) for item in fields(self)}
        state["headers"] = tuple(public_headers(self.headers).items())
        return state

    # Copies stay in the process: a frozen config is its own copy (a deep copy through the pickle
    # protocol would lose the token and the credential headers).
    def __copy__(self) -> ClientConfig:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientConfig:
        return self

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, token={'set' if self.token else 'none'} "
            f"({self.token_source}), bill_to={self.bill_to!r}, timeout={self.timeout}, "
            f"max_retries={self.retry.max_retries})"
        )


def validate_timeout(timeout: float, *, what: str = "timeout") -> float:
    """Return ``timeout`` as a float, or raise :class:`HFConfigError` unless positive and finite."""
    return positive_seconds(what, timeout)


def _size(value: int | None, default: int, what: str) -> int:
    if value is None:
        return default
    return positive_int(what, value, unit="number of bytes")


def connect_timeout(read_timeout: float) -> float:
    """Connect timeout for a given read timeout: 10 s at most."""
    return min(CONNECT_TIMEOUT, read_timeout)
