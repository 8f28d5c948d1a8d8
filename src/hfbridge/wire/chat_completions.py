"""The chat completions route (``POST {root}/chat/completions``) on the route seam. Pure.

The request is validated once (:func:`chat_request`, before any request, whatever the number of
providers tried); each attempt only sets the ``model`` its target names. The answer parses into a
:class:`~hfbridge.wire.chat.ChatCompletion`; a stream folds through
:class:`~hfbridge.wire.stream.ChunkAccumulator` and is complete with ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hfbridge.wire.chat import ChatCompletion, build_chat_payload, parse_chat_completion
from hfbridge.wire.route import Route, Target, marker_required
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta

PATH = "chat/completions"
"""Relative to the connection's OpenAI-compatible root (the router's ``/v1``, or ``base_url``)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated chat request: the body without its ``model``, and the parameters it came from."""

    body: Mapping[str, Any]
    params: Mapping[str, Any]


def chat_request(
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    stream: bool = False,
    include_usage: bool = True,
) -> ChatRequest:
    """Validate ``messages`` and ``params`` (:class:`~hfbridge.errors.HFConfigError`) once."""
    body = build_chat_payload(
        None, messages, params=params, stream=stream, include_usage=include_usage
    )
    return ChatRequest(body, params)


def _url(target: Target, stream: bool) -> str:  # noqa: ARG001 - a route's url
    return PATH


def _build(request: ChatRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    if target.model is None:
        return dict(request.body)
    return {"model": target.model, **request.body}


def _parse(body: Any, headers: Mapping[str, str], request: ChatRequest) -> ChatCompletion:  # noqa: ARG001
    return parse_chat_completion(body)


def _fold(request: ChatRequest) -> ChunkAccumulator:  # noqa: ARG001 - a route's fold
    return ChunkAccumulator()


CHAT_COMPLETIONS: Route[ChatRequest, ChatCompletion, StreamDelta] = Route(
    name="chat-completions",
    url=_url,
    build=_build,
    parse=_parse,
    fold=_fold,
    stream_end=marker_required,
    stream_end_label="[DONE]",
)
