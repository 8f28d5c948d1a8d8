"""Token discovery, secret values, and the rules for where credentials may be sent.

Resolution order (highest first): an explicit ``token=``, ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``,
the file at ``HF_TOKEN_PATH``, ``$HF_HOME/token``, ``~/.cache/huggingface/token``.

Trust is decided per *origin* (scheme, host, port), never per host alone. A discovered token goes
only to Hugging Face origins: ``https`` on port 443 of huggingface.co, hf.co, huggingface.cloud and
their subdomains, and the exact origin of ``HF_ENDPOINT``. A token the user passes explicitly also
goes to the origin of the ``base_url`` it was passed for. Cross-origin redirects never carry it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from hfbridge._constants import (
    HF_HOME_ENV,
    HF_HOST_SUFFIXES,
    HUB_ENDPOINT_ENV,
    LEGACY_TOKEN_ENV,
    TOKEN_ENV,
    TOKEN_PATH_ENV,
    XDG_CACHE_HOME_ENV,
)
from hfbridge._redact import REDACTED, is_credential_header, register_secret
from hfbridge._urls import Origin, origin_of

TokenSource = Literal["explicit", "env", "file", "none"]


class Secret:
    """A string that never shows itself: not in ``repr``, ``str``, logs, or pickles.

    Call :meth:`get_secret_value` to read it. Pickling drops the value (the unpickled object holds
    no secret), so a pickled client or model never carries a token to disk.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def get_secret_value(self) -> str:
        """Return the secret itself. Never log or format the result."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, ("",))

    # A copy is not a pickle: it stays in this process, so it keeps the value (the object is
    # immutable, so the copy is the object itself). Without these, copy.deepcopy would go through
    # __reduce__ and hand back an empty secret: a deep-copied model would silently lose its token.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __bool__(self) -> bool:
        return bool(self._value)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\r", "").replace("\n", "").strip()
    return value or None


def hf_home() -> Path:
    """The Hugging Face home directory (``$HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``)."""
    if os.environ.get(HF_HOME_ENV):
        return Path(os.path.expandvars(os.environ[HF_HOME_ENV])).expanduser()
    xdg = os.environ.get(XDG_CACHE_HOME_ENV)
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface"


def _token_files() -> list[Path]:
    files = []
    if os.environ.get(TOKEN_PATH_ENV):
        files.append(Path(os.path.expandvars(os.environ[TOKEN_PATH_ENV])).expanduser())
    files.append(hf_home() / "token")
    files.append(Path.home() / ".cache" / "huggingface" / "token")
    return files


def resolve_token(explicit: str | Secret | None = None) -> tuple[Secret | None, TokenSource]:
    """Find the token to use and say where it came from."""
    if explicit is not None:
        value = _clean(explicit.get_secret_value() if isinstance(explicit, Secret) else explicit)
        return (Secret(value), "explicit") if value else (None, "none")
    for name in (TOKEN_ENV, LEGACY_TOKEN_ENV):
        value = _clean(os.environ.get(name))
        if value:
            return Secret(value), "env"
    for path in _token_files():
        try:
            value = _clean(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if value:
            return Secret(value), "file"
    return None, "none"


class SecretHeaders(dict[str, str]):
    """HTTP headers whose credential-bearing values (see :func:`is_credential_header`) are secret.

    A plain ``dict`` to read and send, but its ``repr`` masks those values and a pickle leaves them
    out, as :class:`Secret` does for the token; copies keep them. Adapters hold ``default_headers``
    (which may carry an ``Authorization`` or ``x-api-key`` for a self-hosted server) as one.
    """

    def __repr__(self) -> str:
        masked = {
            name: REDACTED if is_credential_header(name) else value for name, value in self.items()
        }
        return repr(masked)

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretHeaders, (public_headers(self),))

    def __copy__(self) -> SecretHeaders:
        return SecretHeaders(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretHeaders:
        return SecretHeaders(self)


def public_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """``headers`` without the credential-bearing ones."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: value for name, value in items if not is_credential_header(name)}


def hub_origin() -> Origin | None:
    """The origin of ``HF_ENDPOINT`` when it moves the Hub elsewhere."""
    return origin_of(os.environ.get(HUB_ENDPOINT_ENV))


def is_hf_host(host: str | None) -> bool:
    """True for huggingface.co, hf.co, huggingface.cloud and their subdomains (any scheme)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    return any(host == suffix or host.endswith("." + suffix) for suffix in HF_HOST_SUFFIXES)


def is_hf_origin(origin: Origin | None) -> bool:
    """True for ``https`` on port 443 of a Hugging Face host, and for ``HF_ENDPOINT``'s origin.

    Plain ``http`` to a Hugging Face host is not trusted (the token would cross the network in
    clear), nor is another port of the ``HF_ENDPOINT`` host.
    """
    if origin is None:
        return False
    if origin == hub_origin():
        return True
    return origin[0] == "https" and origin[2] == 443 and is_hf_host(origin[1])  # noqa: PLR2004
