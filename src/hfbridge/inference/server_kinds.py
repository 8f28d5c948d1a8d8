"""What each self-hosted server is, learnt once per base URL and kept for the process.

A few servers do not honour every OpenAI field (:mod:`hfbridge.wire.tool_choice`), so the chat
service asks what a ``base_url`` serves before sending such a field. The answer comes for free from
the ``Server`` header of any earlier answer; when none came yet, one ``GET {base_url}/models`` asks
(once: a failed or silent probe is remembered as "unknown", and the request goes out as it is).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from hfbridge.errors import HFError
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.server_info import ServerKind
from hfbridge.wire.tool_choice import server_kind_from_headers, server_kind_from_models

logger = logging.getLogger("hfbridge.inference")

PROBE_TIMEOUT = 10.0
"""Seconds the one ``/models`` probe may take."""

_kinds: dict[str, ServerKind | None] = {}  # base URL -> kind; None: asked, unknown
_lock = threading.Lock()


def note_answer(base_url: str, headers: Mapping[str, str]) -> None:
    """Learn the server's kind from an answer's headers, if not known yet (cheap per call)."""
    if base_url in _kinds:
        return
    kind = server_kind_from_headers(headers)
    if kind is not None:
        with _lock:
            _kinds[base_url] = kind


def server_kind(client: HFClient) -> ServerKind | None:
    """The kind of the server at ``client``'s base URL (probing ``/models`` once if unknown)."""
    base_url = client.config.base_url
    if base_url in _kinds:
        return _kinds[base_url]
    kind: ServerKind | None = None
    try:
        response = client.request("GET", "models", timeout=PROBE_TIMEOUT, max_retries=0)
        kind = server_kind_from_headers(response.headers) or server_kind_from_models(
            response.json()
        )
    except HFError as exc:
        logger.debug("hfbridge: could not tell what %s serves (%s)", base_url, exc)
    return _remember(base_url, kind)


async def aserver_kind(client: AsyncHFClient) -> ServerKind | None:
    """Async form of :func:`server_kind`."""
    base_url = client.config.base_url
    if base_url in _kinds:
        return _kinds[base_url]
    kind: ServerKind | None = None
    try:
        response = await client.request("GET", "models", timeout=PROBE_TIMEOUT, max_retries=0)
        kind = server_kind_from_headers(response.headers) or server_kind_from_models(
            response.json()
        )
    except HFError as exc:
        logger.debug("hfbridge: could not tell what %s serves (%s)", base_url, exc)
    return _remember(base_url, kind)


def _remember(base_url: str, kind: ServerKind | None) -> ServerKind | None:
    with _lock:
        return _kinds.setdefault(base_url, kind)


def forget() -> None:
    """Forget every server learnt so far (a server at a URL was replaced; tests)."""
    with _lock:
        _kinds.clear()
