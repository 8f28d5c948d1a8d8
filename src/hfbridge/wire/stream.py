"""Streamed chat completions: chunks in, per-chunk deltas and the assembled result out. Pure.

Tool-call fragments are keyed on ``(choice index, tool-call index)``: ``id`` and ``name`` are set
when first seen and never concatenated (TGI repeats them on every delta), ``arguments`` fragments
are appended. A fragment without ``index`` (some OpenAI-compatible servers leave it out) belongs to
the call its ``id`` names, or continues the latest call when it names none; an ``id`` not seen yet
starts a new call. ``usage`` is taken from any chunk that carries it, including one with no choices.

A character outside the BMP may arrive as two UTF-16 surrogate halves in two deltas (``"\ud83d"``
then ``"\ude00"`` as JSON escapes): a trailing high surrogate is held back and joined with the next
fragment, so deltas and results carry whole characters (a lone half would fail to encode later).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hfbridge.errors import HFResponseError
from hfbridge.wire.chat import (
    ChatChoice,
    ChatCompletion,
    ToolCall,
    Usage,
    arguments_text,
    as_mapping,
    normalize_finish_reason,
    parse_usage,
    tool_call_id,
)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of one tool call. ``id`` and ``name`` appear only on its first fragment."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class StreamDelta:
    """What one chunk adds to one choice, ready for an adapter to emit.

    Not frozen: one is built per streamed chunk, and a frozen dataclass costs about a microsecond
    more to build (every field goes through ``object.__setattr__``). Treat it as read-only.
    """

    choice_index: int = 0
    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    logprobs: Any = None
    native_finish_reason: str | None = None
    """The server's own word for the finish, when it differs from ``finish_reason``."""


@dataclass
class _ToolState:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    held: str = ""  # a high surrogate waiting for its low half (module docstring)


@dataclass
class _ChoiceState:
    # StringIO, not a list of fragments: a long stream then costs the size of its text, not a
    # Python object per token (measured: 70 KiB per 1,000 chunks with lists).
    content: io.StringIO = field(default_factory=io.StringIO)
    reasoning: io.StringIO = field(default_factory=io.StringIO)
    refusal: io.StringIO = field(default_factory=io.StringIO)
    tools: dict[int, _ToolState] = field(default_factory=dict)
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    logprobs: list[Any] = field(default_factory=list)
    held: str = ""  # a high surrogate of the content waiting for its low half


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATES, _SURROGATES_END = "\ud800", "\udfff"
_RARE_DELTA_KEYS = frozenset({"reasoning", "reasoning_content", "refusal", "tool_calls"})


def _fragment(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(part.get("text", "")) for part in value if isinstance(part, Mapping))
    return ""


class ChunkAccumulator:
    """Fold ``chat.completion.chunk`` events into deltas, then into a :class:`ChatCompletion`.

    The fold of the chat completions route (:class:`~hfbridge.wire.route.Fold`), and the one
    record of a chat stream: adapters read the text and tool calls so far from it
    (:meth:`content`, :meth:`tool_calls`) instead of folding the deltas again.
    """

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self.id = ""
        self.model = ""
        self.created: int | None = None
        self.system_fingerprint: str | None = None
        self.usage: Usage | None = None
        self.chunks = 0
        self._header_missing = True

    def add(self, chunk: Any) -> list[StreamDelta]:
        """Take one parsed chunk; return the deltas it carries (one per choice touched).

        Raises :class:`~hfbridge.errors.HFResponseError` for an event that is not a JSON object.
        """
        if not isinstance(chunk, Mapping):
            raise HFResponseError(
                f"The chat stream sent an event that is not a JSON object "
                f"({type(chunk).__name__}): the endpoint may not be OpenAI-compatible "
                "(check base_url).",
                body=json.dumps(chunk)[:500],
            )
        self.chunks += 1
        if self._header_missing:
            self._take_header(chunk)
        raw_usage = chunk.get("usage")
        usage = None if raw_usage is None else parse_usage(raw_usage)
        if usage is not None:
            self.usage = usage
        choices = chunk.get("choices")
        deltas = (
            [self._add_choice(raw) for raw in choices if isinstance(raw, Mapping)]
            if isinstance(choices, list)
            else []
        )
        if usage is not None:
            if deltas:
                deltas[-1].usage = usage
            else:
                deltas.append(StreamDelta(usage=usage))
        return deltas

    def _take_header(self, chunk: Mapping[str, Any]) -> None:
        self.id = self.id or str(chunk.get("id") or "")
        self.model = self.model or str(chunk.get("model") or "")
        if self.created is None and isinstance(chunk.get("created"), int):
            self.created = chunk["created"]
        self.system_fingerprint = self.system_fingerprint or chunk.get("system_fingerprint")
        self._header_missing = not (
            self.id and self.model and self.created is not None and self.system_fingerprint
        )

    def _add_choice(self, raw: Mapping[str, Any]) -> StreamDelta:
        index = raw.get("index", 0)
        if type(index) is not int:  # also rejects bool, a subclass of int
            index = _index(index, 0)
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _ChoiceState()
        delta = raw.get("delta")
        if type(delta) is not dict:
            delta = as_mapping(delta)
        content = delta.get("content")
        if type(content) is not str:
            content = _fragment(content)
        if content and (state.held or _SURROGATES <= content[-1] <= _SURROGATES_END):
            content, state.held = whole_characters(state.held + content)
        if content:
            state.content.write(content)
        finish_reason = raw.get("finish_reason")
        native = None
        if finish_reason:
            finish_reason, native = normalize_finish_reason(finish_reason)
            state.finish_reason, state.native_finish_reason = finish_reason, native
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            state.logprobs.append(logprobs)
        # The hot path: most chunks carry content only; anything else takes the full reading.
        if _RARE_DELTA_KEYS.isdisjoint(delta):
            return StreamDelta(index, content, "", (), finish_reason, None, logprobs, native)
        reasoning = _fragment(delta.get("reasoning") or delta.get("reasoning_content"))
        if reasoning:
            state.reasoning.write(reasoning)
        refusal = _fragment(delta.get("refusal"))
        if refusal:
            state.refusal.write(refusal)
        tool_deltas = tuple(self._add_tool(state, item) for item in _tool_items(delta))
        return StreamDelta(
            index, content, reasoning, tool_deltas, finish_reason, None, logprobs, native
        )

    @staticmethod
    def _add_tool(state: _ChoiceState, item: Mapping[str, Any]) -> ToolCallDelta:
        index = _tool_index(state, item)
        tool = state.tools.setdefault(index, _ToolState())
        function = as_mapping(item.get("function"))
        new_id = tool_call_id(item.get("id")) if tool.id is None else None
        new_name = function.get("name") if function.get("name") and tool.name is None else None
        tool.id = tool.id or new_id
        tool.name = tool.name or new_name
        fragment = arguments_text(function.get("arguments"))
        if fragment or tool.held:
            fragment, tool.held = whole_characters(tool.held + fragment)
            if fragment:
                tool.arguments.append(fragment)
        return ToolCallDelta(index=index, id=new_id, name=new_name, arguments=fragment)

    @property
    def finish_reason(self) -> str | None:
        """The first choice's finish reason, once it has arrived."""
        state = self._choices.get(0)
        return state.finish_reason if state else None

    def end(self, headers: Mapping[str, str]) -> list[StreamDelta]:  # noqa: ARG002 - a Fold
        """Nothing is held back: every delta went out as its chunk arrived."""
        return []

    def result(self) -> ChatCompletion:
        """The assembled completion (see :meth:`completion`)."""
        return self.completion()

    def content(self, choice: int = 0) -> tuple[str, str]:
        """The text and the reasoning of ``choice`` so far."""
        state = self._choices.get(choice)
        if state is None:
            return "", ""
        return state.content.getvalue(), state.reasoning.getvalue()

    def tool_calls(self, choice: int = 0) -> tuple[ToolCall, ...]:
        """The tool calls of ``choice`` so far (arguments possibly incomplete JSON)."""
        state = self._choices.get(choice)
        if state is None or not state.tools:
            return ()
        return _calls(state)

    def completion(self) -> ChatCompletion:
        """Everything received so far, assembled as a completion."""
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            calls = _calls(state, complete=True)
            choices.append(
                ChatChoice(
                    index=index,
                    content=_text_or_none(state.content, state.held, keep_empty=not calls),
                    reasoning=_text_or_none(state.reasoning),
                    refusal=_text_or_none(state.refusal),
                    tool_calls=calls,
                    finish_reason=state.finish_reason,
                    logprobs=state.logprobs or None,
                    native_finish_reason=state.native_finish_reason,
                )
            )
        return ChatCompletion(
            id=self.id,
            model=self.model,
            created=self.created,
            choices=tuple(choices) or (ChatChoice(content=""),),
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
        )


def _calls(state: _ChoiceState, *, complete: bool = False) -> tuple[ToolCall, ...]:
    # complete: a surrogate half still held back never got its other half (U+FFFD stands for it)
    return tuple(
        ToolCall(
            id=tool.id or f"call_{position}",
            name=tool.name or "",
            arguments="".join(tool.arguments) + _REPLACEMENT * bool(complete and tool.held),
            index=position,
        )
        for position, tool in sorted(state.tools.items())
    )


def _text_or_none(buffer: io.StringIO, held: str = "", *, keep_empty: bool = False) -> str | None:
    text = buffer.getvalue() + _REPLACEMENT * bool(held)  # a half never completed: U+FFFD
    return text if text or keep_empty else None


def _index(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _tool_index(state: _ChoiceState, item: Mapping[str, Any]) -> int:
    """The call a tool-call fragment belongs to (module docstring: fragments without ``index``)."""
    index = item.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    call_id = item.get("id")
    if call_id:
        for position, tool in state.tools.items():
            if tool.id == call_id:
                return position
        return max(state.tools, default=-1) + 1
    latest = max(state.tools, default=0)
    name = as_mapping(item.get("function")).get("name")
    known = state.tools.get(latest)
    if name and known is not None and known.name and known.name != name:
        return latest + 1  # another function named, without id or index: a new call
    return latest


_REPLACEMENT = "\ufffd"


def whole_characters(text: str) -> tuple[str, str]:
    """``(text to emit, held)``: adjacent surrogate halves joined, a trailing high half held back.

    A lone half anywhere else becomes U+FFFD (it can never be encoded). Cheap when ``text`` holds
    no surrogate, which is nearly always.
    """
    if not text or not _SURROGATE.search(text):
        return text, ""
    held = ""
    if "\ud800" <= text[-1] <= "\udbff":
        text, held = text[:-1], text[-1]
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined, held


def _tool_items(delta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = delta.get("tool_calls")
    if isinstance(items, Mapping):  # TGI 2.0 streamed its one call as an object, not a list
        return [items]
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


class StreamRecord(Protocol):
    """What a chat stream's record answers so far, whichever route folded it.

    :class:`ChunkAccumulator` (chat completions) and the Responses API's fold both keep it.
    """

    usage: Usage | None

    def content(self, choice: int = 0) -> tuple[str, str]:
        """The text and the reasoning of ``choice`` so far."""

    def tool_calls(self, choice: int = 0) -> tuple[ToolCall, ...]:
        """The tool calls of ``choice`` so far (arguments as received)."""
