"""Keep secrets out of text that leaves hfbridge: messages, logs, URLs.

Tokens registered here are replaced wherever they appear; anything shaped like a Hugging Face token
(``hf_`` followed by many word characters) is replaced too, so a server echoing a token back in an
error body cannot leak it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
_HF_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_SECRET_QUERY_KEY = re.compile(r"(?i)token|key|secret|sig|auth|password|credential")
_CREDENTIAL_HEADER = re.compile(r"(?i)key|token|secret|auth|passw|credential|cookie|signature")

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember ``value`` so that :func:`redact` removes it from any text."""
    if len(value) >= 4:  # noqa: PLR2004 - shorter strings would redact ordinary words
        with _lock:
            _known.add(value)


def is_credential_header(name: str) -> bool:
    """Whether a header named ``name`` carries a credential.

    ``Authorization``, ``api-key``, ``x-api-key``, ``Cookie``: anything naming a key, token, secret,
    password or auth. Such headers are secrets: masked in ``repr`` and dumps, left out of pickles,
    redacted from logs and errors, and sent only where a token may go.
    """
    return _CREDENTIAL_HEADER.search(name) is not None


def redact(text: str) -> str:
    """Return ``text`` with every known secret, HF-shaped token and bearer credential masked."""
    if not text:
        return text
    for secret in tuple(_known):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _HF_TOKEN_SHAPE.sub(REDACTED, text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def redact_url(url: str) -> str:
    """Return ``url`` without user info and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # unparsable, or a port out of range: drop anything before an "@"
        return redact(re.sub(r"//[^/@]*@", "//", url))
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    query = parts.query
    if query:
        pairs = [
            (key, REDACTED if _SECRET_QUERY_KEY.search(key) else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="[]*:,")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
