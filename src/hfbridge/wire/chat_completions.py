"""The chat completions route (``POST {root}/chat/completions``) on the route seam. Pure.

The request is validated once (:func:`chat_request`, before any request, whatever the number of
providers tried); each attempt only sets the ``model`` its target names. The answer parses into a
:class:`~hfbridge.wire.chat.ChatCompletion`; a stream folds through :class:`ChatFold`. A stream is
complete with ``[DONE]``, or at the end of the body once every choice has its ``finish_reason``
(:data:`~hfbridge.wire.stream_end.CHOICES_FINISHED`).

Models known to write their reasoning inline (``<think>...</think>``, the DeepSeek-R1 family; see
:mod:`hfbridge.wire.reasoning`) have it moved from the content to the reasoning, in whole answers
and in streams (the fold's record too, so every framework reads the same split).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hfbridge.wire.chat import ChatCompletion, build_chat_payload, parse_chat_completion
from hfbridge.wire.reasoning import ThinkSplitter, split_completion, thinks_inline
from hfbridge.wire.route import Route, Target
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta
from hfbridge.wire.stream_end import CHOICES_FINISHED

PATH = "chat/completions"
"""Relative to the connection's OpenAI-compatible root (the router's ``/v1``, or ``base_url``)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated chat request: the body without its ``model``, and the parameters it came from.

    ``model`` is the model asked for (for the reasoning rule, which also reads the answer's model
    name; the targets of one request differ by provider only, so one name serves them all).
    """

    body: Mapping[str, Any]
    params: Mapping[str, Any]
    model: str | None = None

    def with_body(self, body: Mapping[str, Any]) -> ChatRequest:
        """The same request with another body (a server's own reading of a field)."""
        return replace(self, body=body)


def chat_request(
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    model: str | None = None,
    stream: bool = False,
    include_usage: bool = True,
) -> ChatRequest:
    """Validate ``messages`` and ``params`` (:class:`~hfbridge.errors.HFConfigError`) once."""
    body = build_chat_payload(
        None, messages, params=params, stream=stream, include_usage=include_usage
    )
    return ChatRequest(body, params, model)


class ChatFold(ChunkAccumulator):
    """The chat route's fold: the chunk accumulator, with inline reasoning split out.

    Whether the model writes its reasoning inline is decided at the first chunk (its model name
    counts, with the one asked for). Then each choice's content goes through a
    :class:`~hfbridge.wire.reasoning.ThinkSplitter`, in the deltas handed out and in the record
    read by :meth:`content`; :meth:`end` releases what a splitter still held.
    """

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self._asked = model
        self._thinks: bool | None = None
        self._splitters: dict[int, tuple[ThinkSplitter, io.StringIO, io.StringIO]] = {}

    def add(self, chunk: Any) -> list[StreamDelta]:
        """Take one chunk; return its deltas (content and reasoning split for inline thinkers)."""
        deltas = super().add(chunk)
        thinks = self._thinks
        if thinks is None:
            thinks = self._thinks = thinks_inline(self._asked, self.model)
            if not thinks:  # decided: later chunks take the accumulator's own path
                self.add = super().add  # type: ignore[method-assign]
        if thinks:
            for delta in deltas:
                self._split(delta)
        return deltas

    def _split(self, delta: StreamDelta) -> None:
        entry = self._splitters.get(delta.choice_index)
        if entry is None:
            entry = (ThinkSplitter(), io.StringIO(), io.StringIO())
            self._splitters[delta.choice_index] = entry
        splitter, content, reasoning = entry
        if delta.content:
            thought, delta.content = splitter.feed(delta.content)
            delta.reasoning += thought
        content.write(delta.content)
        reasoning.write(delta.reasoning)

    def end(self, headers: Mapping[str, str]) -> list[StreamDelta]:  # noqa: ARG002 - a Fold
        """What the reasoning splitters still held (nothing for other models)."""
        deltas = []
        for index, (splitter, content, reasoning) in sorted(self._splitters.items()):
            thought, text = splitter.flush()
            if thought or text:
                content.write(text)
                reasoning.write(thought)
                deltas.append(StreamDelta(choice_index=index, content=text, reasoning=thought))
        return deltas

    def content(self, choice: int = 0) -> tuple[str, str]:
        """The text and the reasoning of ``choice`` so far (split for inline thinkers)."""
        entry = self._splitters.get(choice)
        if entry is None:
            return super().content(choice)
        return entry[1].getvalue(), entry[2].getvalue()

    def result(self) -> ChatCompletion:
        """The assembled completion (reasoning split out for inline thinkers)."""
        completion = self.completion()
        return split_completion(completion) if self._thinks else completion


def _url(target: Target, stream: bool) -> str:  # noqa: ARG001 - a route's url
    return PATH


def _build(request: ChatRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    if target.model is None:
        return dict(request.body)
    return {"model": target.model, **request.body}


def _parse(body: Any, headers: Mapping[str, str], request: ChatRequest) -> ChatCompletion:  # noqa: ARG001
    completion = parse_chat_completion(body)
    if thinks_inline(request.model, completion.model):
        return split_completion(completion)
    return completion


def _fold(request: ChatRequest) -> ChatFold:
    return ChatFold(request.model)


CHAT_COMPLETIONS: Route[ChatRequest, ChatCompletion, StreamDelta] = Route(
    name="chat-completions",
    url=_url,
    build=_build,
    parse=_parse,
    fold=_fold,
    stream_end=CHOICES_FINISHED,
)
