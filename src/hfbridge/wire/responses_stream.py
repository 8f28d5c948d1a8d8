"""Streamed Responses API answers: typed events in, chat-style deltas and the end rule out. Pure.

The fold hands out the same :class:`~hfbridge.wire.stream.StreamDelta` values a chat stream does,
so adapters emit chunks and callbacks unchanged, and assembles the same
:class:`~hfbridge.wire.chat.ChatCompletion` as
:func:`~hfbridge.wire.responses_result.parse_response` (the deltas joined, in order). It keeps the
fold protocol of the route seam (``events``, ``finished``, ``add``, ``end``, ``result``) and the
chat accumulator's readers (``content``, ``tool_calls``).

The end rule: no server sends ``[DONE]`` after a Responses stream (llama.cpp, the router and
OpenAI end the body after the terminal event), so a stream is complete exactly when ``finished``
is true, that is after ``response.completed`` or ``response.incomplete`` (:data:`STREAM_END_LABEL`);
a body that ends before is cut, whatever marker it sent. ``response.failed`` and ``error`` events
raise :class:`~hfbridge.errors.HFStreamError` as they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hfbridge.errors import HFResponseError, HFStreamError
from hfbridge.wire.chat import ChatCompletion, ToolCall, Usage, as_mapping
from hfbridge.wire.responses_result import (
    OutputFold,
    assemble,
    error_text,
    failure_text,
    finish_reason_for,
    joined_text,
    parse_responses_usage,
    tool_call_of,
    upstream_status,
)
from hfbridge.wire.stream import StreamDelta, ToolCallDelta

STREAM_END_LABEL = "response.completed"
"""The event a complete stream ends with, as an incomplete stream's error names it."""


@dataclass
class _ItemState:
    """A streamed output item, while it is open."""

    kind: str
    text_seen: bool = False
    tool_index: int | None = None
    arguments: list[str] = field(default_factory=list)


class ResponsesStreamFold:
    """Fold Responses stream events into :class:`StreamDelta` values, then a completion.

    Text deltas become ``content`` deltas; ``reasoning_text`` deltas (and summary deltas, while no
    reasoning text has come) ``reasoning`` deltas; a ``function_call`` item becomes tool-call
    deltas indexed in order of appearance, its ``call_id`` and name on the first. Remote MCP
    items are recorded, never handed out as tool calls (the server runs them). Items are matched
    by ``item_id`` (llama.cpp sends no ``output_index``), else by ``output_index``. An item that
    arrives only whole (``output_item.done`` without deltas) is handed out whole.

    The end rule (module docstring): :attr:`finished` turns true at ``response.completed`` or
    ``response.incomplete``; the service raises for a body that ends before.
    """

    def __init__(self) -> None:
        self._header: dict[str, Any] = {}
        self._output = OutputFold()
        self._items: dict[Any, _ItemState] = {}
        self._last_tool: _ItemState | None = None
        self._status = ""
        self._incomplete_reason: str | None = None
        self._reasoning_text_seen = False
        self._tool_states: list[_ItemState] = []
        self.usage: Usage | None = None
        self.events = 0

    @property
    def finished(self) -> bool:
        """True once a terminal event (``response.completed``/``response.incomplete``) came."""
        return bool(self._status)

    @property
    def finish_reason(self) -> str | None:
        """The finish reason, once the stream has finished."""
        if not self.finished:
            return None
        return finish_reason_for(
            self._status, self._incomplete_reason, bool(self._output.tool_calls)
        )

    def add(self, event: Any) -> list[StreamDelta]:
        """Take one parsed event; return the deltas it carries (often none).

        Raises :class:`HFStreamError` for ``error`` and ``response.failed`` events, and
        :class:`HFResponseError` for an event that is not a JSON object.
        """
        if not isinstance(event, Mapping):
            raise HFResponseError(
                f"The Responses stream sent an event that is not a JSON object "
                f"({type(event).__name__}): the endpoint may not speak the Responses API "
                "(check base_url).",
                body=json.dumps(event)[:500],
            )
        self.events += 1
        handler = _HANDLERS.get(event.get("type"))
        # Lifecycle, part and MCP progress events carry nothing to hand out.
        return handler(self, event) if handler is not None else []

    def _created(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        self._take_header(as_mapping(event.get("response")))
        return []

    def _refusal(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        self._output.refusal.write(str(event.get("delta") or ""))
        return []

    def _failed(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        response = as_mapping(event.get("response"))
        raise HFStreamError(
            f"The response {response.get('id') or ''} failed on the server: "
            f"{failure_text(response)}. The output is incomplete: retry, or choose another "
            "model or provider.",
            error_type=str(as_mapping(response.get("error")).get("code") or "") or None,
            status_code=upstream_status(response),
        )

    def _error(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        error = as_mapping(event.get("error")) or event
        raise HFStreamError(
            f"The server reported an error inside the Responses stream: {error_text(error)}. "
            "The output is incomplete.",
            error_type=str(error.get("code") or error.get("type") or "") or None,
        )

    def end(self, headers: Mapping[str, str]) -> list[StreamDelta]:  # noqa: ARG002 - a fold's end
        """Nothing is held back: every delta went out as its event arrived."""
        return []

    # --- events ---

    def _take_header(self, response: Mapping[str, Any]) -> None:
        for key in ("id", "model", "created_at", "previous_response_id"):
            if response.get(key) is not None:
                self._header.setdefault(key, response[key])

    def _key(self, event: Mapping[str, Any], item: Mapping[str, Any] | None = None) -> Any:
        item_id = (item or {}).get("id") or event.get("item_id")
        if item_id:
            return item_id
        index = event.get("output_index")
        return ("index", index) if isinstance(index, int) else None

    def _state(self, event: Mapping[str, Any], kind: str) -> _ItemState:
        key = self._key(event)
        if key is None:  # a delta naming no item: its item's done event must not repeat it
            self._items.setdefault(None, _ItemState(kind))
        state = self._items.get(key)
        if state is None:
            state = self._items[key] = _ItemState(kind)
        return state

    def _text(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        self._state(event, "message").text_seen = True
        self._output.content.write(delta)
        return [StreamDelta(content=delta)]

    def _reasoning_text(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        return self._reasoning(event, summary=False)

    def _reasoning_summary(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        return self._reasoning(event, summary=True)

    def _reasoning(self, event: Mapping[str, Any], *, summary: bool) -> list[StreamDelta]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        self._state(event, "reasoning").text_seen = True
        if summary:
            self._output.summary.write(delta)
            if self._reasoning_text_seen:
                return []
        else:
            self._reasoning_text_seen = True
            self._output.reasoning.write(delta)
        return [StreamDelta(reasoning=delta)]

    def _open_tool(self, key: Any, item: Mapping[str, Any]) -> tuple[_ItemState, ToolCallDelta]:
        index = len(self._output.tool_calls)
        state = _ItemState("function_call", tool_index=index)
        if key is not None:
            self._items[key] = state
        call = tool_call_of(item, index)
        self._output.tool_calls.append(call)
        self._tool_states.append(state)
        self._last_tool = state
        return state, ToolCallDelta(index=index, id=call.id, name=call.name)

    def _item_added(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        item = as_mapping(event.get("item"))
        kind = str(item.get("type") or "")
        key = self._key(event, item)
        if kind != "function_call":
            if key is not None:
                self._items.setdefault(key, _ItemState(kind))
            return []
        state, delta = self._open_tool(key, item)
        arguments = item.get("arguments")
        if isinstance(arguments, str) and arguments:
            state.arguments.append(arguments)
            delta = ToolCallDelta(delta.index, delta.id, delta.name, arguments)
        return [StreamDelta(tool_calls=(delta,))]

    def _arguments_delta(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        return self._arguments(event, done=False)

    def _arguments_done(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        return self._arguments(event, done=True)

    def _arguments(self, event: Mapping[str, Any], *, done: bool) -> list[StreamDelta]:
        # An id the item was not announced with falls back to the latest call (one server gives
        # ids on deltas only, another indexes only).
        key = self._key(event)
        state = self._last_tool if key is None else self._items.get(key, self._last_tool)
        if state is None or state.tool_index is None:
            return []  # arguments of a remote MCP call, or of an item never announced
        if done:
            fragment = event.get("arguments")
            if state.arguments or not isinstance(fragment, str) or not fragment:
                return []
        else:
            fragment = event.get("delta")
            if not isinstance(fragment, str) or not fragment:
                return []
        state.arguments.append(fragment)
        return [
            StreamDelta(tool_calls=(ToolCallDelta(index=state.tool_index, arguments=fragment),))
        ]

    def _item_done(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        item = as_mapping(event.get("item"))
        self._output.items.append(item)
        kind = item.get("type")
        if self._output.take_server_item(item):
            return []
        key = self._key(event, item)
        state = self._items.get(key) if key is not None else None
        if kind == "function_call":
            return self._tool_done(key, state, item)
        anonymous = self._items.get(None)
        if (state is not None and state.text_seen) or (anonymous and anonymous.kind == kind):
            return []
        if kind == "message":
            text = joined_text(item.get("content"), "output_text")
            self._output.refusal.write(joined_text(item.get("content"), "refusal", "refusal"))
            if text:
                self._output.content.write(text)
                return [StreamDelta(content=text)]
        elif kind == "reasoning":
            text = joined_text(item.get("content"), "reasoning_text")
            summary = joined_text(item.get("summary"), "summary_text")
            self._output.summary.write(summary)
            if text:
                self._reasoning_text_seen = True
                self._output.reasoning.write(text)
            shown = text or ("" if self._reasoning_text_seen else summary)
            if shown:
                return [StreamDelta(reasoning=shown)]
        return []

    def _tool_done(
        self, key: Any, state: _ItemState | None, item: Mapping[str, Any]
    ) -> list[StreamDelta]:
        arguments = item.get("arguments")
        whole = arguments if isinstance(arguments, str) else ""
        if state is None or state.tool_index is None:
            state, delta = self._open_tool(key, item)
            state.arguments.append(whole)
            return [
                StreamDelta(tool_calls=(ToolCallDelta(delta.index, delta.id, delta.name, whole),))
            ]
        if state.arguments or not whole:
            return []
        state.arguments.append(whole)
        return [StreamDelta(tool_calls=(ToolCallDelta(index=state.tool_index, arguments=whole),))]

    def _terminal(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        response = as_mapping(event.get("response"))
        self._take_header(response)
        status = str(response.get("status") or "")
        if event.get("type") == "response.incomplete" or status == "incomplete":
            self._status = "incomplete"
            reason = as_mapping(response.get("incomplete_details")).get("reason")
            self._incomplete_reason = reason if isinstance(reason, str) else None
        else:
            self._status = "completed"
        self.usage = parse_responses_usage(response.get("usage"))
        return [StreamDelta(finish_reason=self.finish_reason, usage=self.usage)]

    def content(self, choice: int = 0) -> tuple[str, str]:  # noqa: ARG002 - one choice only
        """The text and the reasoning so far (the Responses API has one choice)."""
        output = self._output
        return output.content.getvalue(), output.reasoning.getvalue() or output.summary.getvalue()

    def tool_calls(self, choice: int = 0) -> tuple[ToolCall, ...]:  # noqa: ARG002 - one choice
        """The function calls so far (arguments possibly incomplete JSON)."""
        return tuple(
            ToolCall(call.id, call.name, "".join(state.arguments), call.index)
            for call, state in zip(self._output.tool_calls, self._tool_states, strict=True)
        )

    def completion(self) -> ChatCompletion:
        """Everything received so far, assembled as a completion (deltas joined, in order)."""
        return assemble(
            self._header,
            self._output,
            status=self._status or "in_progress",
            incomplete_reason=self._incomplete_reason,
            usage=self.usage,
            tool_calls=self.tool_calls(),
        )

    def result(self) -> ChatCompletion:
        """The assembled completion (see :meth:`completion`)."""
        return self.completion()


_Handler = Callable[[ResponsesStreamFold, Mapping[str, Any]], list[StreamDelta]]
_HANDLERS: dict[Any, _Handler] = {
    "response.output_text.delta": ResponsesStreamFold._text,  # noqa: SLF001 - the fold's table
    "response.function_call_arguments.delta": ResponsesStreamFold._arguments_delta,  # noqa: SLF001
    "response.function_call_arguments.done": ResponsesStreamFold._arguments_done,  # noqa: SLF001
    "response.reasoning_text.delta": ResponsesStreamFold._reasoning_text,  # noqa: SLF001
    "response.reasoning_summary_text.delta": ResponsesStreamFold._reasoning_summary,  # noqa: SLF001
    "response.refusal.delta": ResponsesStreamFold._refusal,  # noqa: SLF001
    "response.output_item.added": ResponsesStreamFold._item_added,  # noqa: SLF001
    "response.output_item.done": ResponsesStreamFold._item_done,  # noqa: SLF001
    "response.created": ResponsesStreamFold._created,  # noqa: SLF001
    "response.completed": ResponsesStreamFold._terminal,  # noqa: SLF001
    "response.incomplete": ResponsesStreamFold._terminal,  # noqa: SLF001
    "response.failed": ResponsesStreamFold._failed,  # noqa: SLF001
    "error": ResponsesStreamFold._error,  # noqa: SLF001
}
"""What each event type does; any other type (lifecycle, parts, MCP progress) is skipped."""
