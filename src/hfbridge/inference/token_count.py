"""Token counts that are true: the server counts where it can, else a labelled estimate.

A self-hosted server that says what it is (:mod:`hfbridge.inference.server_kinds`) counts for us:

- a conversation, with its chat template (and tools) applied, exactly as the next call's
  ``prompt_tokens`` will be: llama.cpp ``POST /v1/responses/input_tokens`` (recorded: 23 = 23),
  vLLM ``POST /tokenize`` with ``messages``, TGI ``POST /chat_tokenize``;
- a plain text, as it is: ``POST /tokenize`` on each of them, which also gives the text's token
  ids (:func:`text_token_ids`; there are none to give elsewhere).

Everything else (the router, a server that does not say what it is, a counter that fails) gets an
estimate, about four characters a token, and one :class:`TokenEstimateWarning` per process saying
so: the router has no token counter, and hfbridge never downloads a tokenizer to count (nor uses
GPT-2's, which counts other models' tokens wrongly).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hfbridge.errors import HFError
from hfbridge.inference.server_kinds import PROBE_TIMEOUT, server_kind
from hfbridge.transport import HFClient
from hfbridge.wire.responses import build_responses_payload
from hfbridge.wire.server_info import (
    CHAT_TOKENIZE_PATHS,
    TOKENIZE_PATH,
    ServerKind,
    chat_tokenize_body,
    parse_token_count,
    parse_token_ids,
    tokenize_body,
)

logger = logging.getLogger("hfbridge.inference")

T = TypeVar("T")

CHARS_PER_TOKEN = 4
"""The estimate's rate: about four characters a token (English text, BPE tokenizers)."""


class TokenEstimateWarning(UserWarning):
    """A token count is an estimate: no server counted it."""


_warned = threading.Event()


def root_url(base_url: str, path: str) -> str:
    """``path`` at the server's root (token counters live beside ``/v1``, not under it)."""
    root = base_url.rstrip("/")
    return f"{root.removesuffix('/v1') or root}/{path}"


def estimate(text: str, why: str) -> int:
    """About ``len(text) / 4`` tokens; warns once per process that counts are estimates."""
    if not _warned.is_set():
        _warned.set()
        warnings.warn(
            f"hfbridge: token counts are estimates (about {CHARS_PER_TOKEN} characters a token): "
            f"{why}. A self-hosted llama.cpp, vLLM or TGI server counts exactly.",
            TokenEstimateWarning,
            stacklevel=3,
        )
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _count(
    client: HFClient, path: str, body: Mapping[str, Any], read: Callable[[Any], T]
) -> T | None:
    """``read`` of the server's answer at ``path``; ``None`` when it did not answer one."""
    url = root_url(client.config.base_url, path)
    try:
        response = client.request("POST", url, json=body, timeout=PROBE_TIMEOUT, max_retries=0)
        return read(response.json())
    except (HFError, ValueError) as exc:
        logger.debug("hfbridge: %s did not count (%s)", url, exc)
        return None


def _message_text(messages: Sequence[Mapping[str, Any]], tools: Any) -> str:
    text = json.dumps([dict(message) for message in messages], ensure_ascii=False)
    return text + (json.dumps(list(tools), ensure_ascii=False) if tools else "")


def count_messages(
    client: HFClient | None,
    model: str | None,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Tokens of ``messages`` (and ``tools``) as the next call will count them.

    ``client`` is a self-hosted server's client, ``None`` on the router (an estimate).
    """
    kind: ServerKind | None = server_kind(client) if client is not None else None
    if client is not None and kind is not None:
        if kind == "llama.cpp":  # a Responses input: the same count its chat route reports
            params = {"tools": list(tools)} if tools else {}
            body: Mapping[str, Any] = build_responses_payload(model, messages, params=params)
        else:
            body = chat_tokenize_body(kind, messages, model, tools)
        count = _count(client, CHAT_TOKENIZE_PATHS[kind], body, parse_token_count)
        if count is not None:
            return count
    why = "the Hugging Face router has no token counter" if client is None else (
        "the server at base_url did not count them"
    )  # fmt: skip
    return estimate(_message_text(messages, tools), why)


def count_text(client: HFClient | None, model: str | None, text: str) -> int:
    """Tokens of ``text`` as it is (no chat template), counted like :func:`count_messages`."""
    kind: ServerKind | None = server_kind(client) if client is not None else None
    if client is not None and kind is not None:
        count = _count(client, TOKENIZE_PATH, tokenize_body(kind, text, model), parse_token_count)
        if count is not None:
            return count
    why = "the Hugging Face router has no token counter" if client is None else (
        "the server at base_url did not count it"
    )  # fmt: skip
    return estimate(text, why)


def text_token_ids(client: HFClient | None, model: str | None, text: str) -> list[int] | None:
    """The token ids of ``text`` as it is, from a self-hosted server's ``/tokenize``.

    The same request :func:`count_text` counts with, so ``len`` of the ids is that count. ``None``
    when no server tokenizes here (the router; a server that does not say what it is, or did
    not answer): there are no true ids to give, and an estimate has none.
    """
    kind: ServerKind | None = server_kind(client) if client is not None else None
    if client is None or kind is None:
        return None
    return _count(client, TOKENIZE_PATH, tokenize_body(kind, text, model), parse_token_ids)
