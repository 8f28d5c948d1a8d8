"""Token discovery and the rules for where a token may be sent.

Resolution order (highest first): an explicit ``token=``, ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``,
the file at ``HF_TOKEN_PATH``, ``$HF_HOME/token``, ``~/.cache/huggingface/token``.

A discovered token goes only to Hugging Face hosts. A token the user passes explicitly also goes to
the custom endpoint it was passed for. Cross-host redirects never carry it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hfbridge._constants import (
    HF_HOME_ENV,
    HF_HOST_SUFFIXES,
    HUB_ENDPOINT_ENV,
    LEGACY_TOKEN_ENV,
    TOKEN_ENV,
    TOKEN_PATH_ENV,
    XDG_CACHE_HOME_ENV,
)
from hfbridge._redact import REDACTED, register_secret

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


def hub_host() -> str | None:
    """Host of ``HF_ENDPOINT`` when it moves the Hub elsewhere."""
    endpoint = os.environ.get(HUB_ENDPOINT_ENV)
    return urlsplit(endpoint).hostname if endpoint else None


def is_hf_host(host: str | None) -> bool:
    """True for huggingface.co, hf.co, their subdomains, and the ``HF_ENDPOINT`` host."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == hub_host():
        return True
    return any(host == suffix or host.endswith("." + suffix) for suffix in HF_HOST_SUFFIXES)
