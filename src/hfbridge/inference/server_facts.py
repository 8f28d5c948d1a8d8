"""What a self-hosted server says about itself, asked once per base URL and model.

The profile of a ``base_url`` model (context window, tool calling, images; see
:func:`hfbridge.catalog.profile.server_profile`) comes from ``GET {base_url}/models`` (llama.cpp
``meta.n_ctx`` and ``input_modalities``, vLLM ``max_model_len``) and, where the server has it,
llama.cpp's ``GET {root}/props`` (``n_ctx`` per slot, the chat template's tool support, whether a
vision projector is loaded). Each probe is bounded (:data:`PROBE_TIMEOUT`, no retries); a server
that answers neither gets the conservative profile, never an error. The answer is kept for the
process (:func:`forget` drops it, for a server restarted with other settings).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from hfbridge.catalog.profile import server_profile
from hfbridge.errors import HFError
from hfbridge.inference.server_kinds import PROBE_TIMEOUT
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.server_info import parse_llamacpp_props, server_model

logger = logging.getLogger("hfbridge.inference")

_profiles: dict[tuple[str, str | None], Mapping[str, Any]] = {}
_lock = threading.Lock()


def props_url(base_url: str) -> str:
    """llama.cpp's ``/props``, at the server's root (beside ``/v1``)."""
    root = base_url.rstrip("/")
    return (root.removesuffix("/v1") or root) + "/props"


def _profile(models: Any, props: Any, model: str | None) -> Mapping[str, Any]:
    found = server_model(models, model) if models is not None else None
    parsed = parse_llamacpp_props(props) if isinstance(props, Mapping) else None
    return server_profile(found, parsed)


def _remember(key: tuple[str, str | None], profile: Mapping[str, Any]) -> Mapping[str, Any]:
    with _lock:
        _profiles[key] = profile
    return profile


def _get(client: HFClient, url: str) -> Any:
    try:
        return client.request("GET", url, timeout=PROBE_TIMEOUT, max_retries=0).json()
    except (HFError, ValueError) as exc:
        logger.debug("hfbridge: %s did not answer (%s)", url, exc)
        return None


async def _aget(client: AsyncHFClient, url: str) -> Any:
    try:
        response = await client.request("GET", url, timeout=PROBE_TIMEOUT, max_retries=0)
        return response.json()
    except (HFError, ValueError) as exc:
        logger.debug("hfbridge: %s did not answer (%s)", url, exc)
        return None


def known_facts(base_url: str, model: str | None) -> Mapping[str, Any] | None:
    """The profile learnt earlier for ``model`` at ``base_url``, without asking (``None``)."""
    return _profiles.get((base_url, model))


def server_facts(client: HFClient, model: str | None) -> Mapping[str, Any]:
    """The profile of ``model`` on the server at ``client``'s base URL (asked once)."""
    base_url = client.config.base_url
    key = (base_url, model)
    if key in _profiles:
        return _profiles[key]
    models = _get(client, "models")
    props = _get(client, props_url(base_url))
    return _remember(key, _profile(models, props, model))


async def aserver_facts(client: AsyncHFClient, model: str | None) -> Mapping[str, Any]:
    """Async form of :func:`server_facts`."""
    base_url = client.config.base_url
    key = (base_url, model)
    if key in _profiles:
        return _profiles[key]
    models = await _aget(client, "models")
    props = await _aget(client, props_url(base_url))
    return _remember(key, _profile(models, props, model))


def forget(base_url: str | None = None) -> None:
    """Drop what was learnt (about ``base_url``, or every server), to ask again."""
    with _lock:
        for key in [key for key in _profiles if base_url is None or key[0] == base_url]:
            del _profiles[key]
