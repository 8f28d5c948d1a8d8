"""Non-streamed Responses API answers, and the result types both readings share. Pure; no I/O.

Results are the chat route's :class:`~hfbridge.wire.chat.ChatCompletion`, so the service loop, the
adapters and their callbacks need nothing new. What a completion cannot say (the response status,
server-run MCP calls, the reasoning summary, the raw output items a caller replays) travels in
:class:`ResponseDetails` under ``completion.extra["response"]`` (read it with
:func:`response_details`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hfbridge.errors import HFResponseError
from hfbridge.wire.chat import ChatChoice, ChatCompletion, ToolCall, Usage, as_mapping

TERMINAL_STATUSES = frozenset({"completed", "incomplete"})
"""The statuses of a finished response that carries output (``failed`` carries an error)."""

_INCOMPLETE_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class McpCall:
    """A remote MCP tool call the server ran itself (``mcp_call`` item): never run it again."""

    id: str
    server_label: str
    name: str
    arguments: str
    output: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class McpToolList:
    """The tools a remote MCP server offered (``mcp_list_tools`` item)."""

    id: str
    server_label: str
    tools: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class McpApprovalRequest:
    """A remote MCP call waiting for the caller's approval (``mcp_approval_request`` item).

    Approve it by sending ``{"type": "mcp_approval_response", "approval_request_id": id,
    "approve": True}`` as an input item of the next request.
    """

    id: str
    server_label: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseDetails:
    """What a Responses answer says beyond a chat completion.

    Attributes:
        status: ``completed`` or ``incomplete``.
        incomplete_reason: why an incomplete response stopped (``max_output_tokens``,
            ``content_filter``), else ``None``.
        reasoning_summary: the reasoning summary text (OpenAI sends a summary, not the reasoning).
        mcp_calls, mcp_tool_lists, approval_requests: the remote MCP items, in output order.
        output: every output item as the server sent it, in order (for replay, and for item types
            hfbridge does not model).
        previous_response_id: the response this one continued, if any.
    """

    status: str = "completed"
    incomplete_reason: str | None = None
    reasoning_summary: str | None = None
    mcp_calls: tuple[McpCall, ...] = ()
    mcp_tool_lists: tuple[McpToolList, ...] = ()
    approval_requests: tuple[McpApprovalRequest, ...] = ()
    output: tuple[Mapping[str, Any], ...] = ()
    previous_response_id: str | None = None

    def metadata(self) -> dict[str, Any]:
        """What a framework's message metadata carries (plain values; empty parts left out).

        ``response_status``, ``incomplete_reason``, ``reasoning_summary``, ``mcp_calls`` (the
        remote calls the server ran, with their output or error), ``mcp_list_tools`` and
        ``mcp_approval_requests`` (answer each with an ``mcp_approval_response`` input item).
        """
        found: dict[str, Any] = {
            "response_status": self.status,
            "incomplete_reason": self.incomplete_reason,
            "reasoning_summary": self.reasoning_summary,
            "mcp_calls": [asdict(call) for call in self.mcp_calls],
            "mcp_list_tools": [asdict(listing) for listing in self.mcp_tool_lists],
            "mcp_approval_requests": [asdict(request) for request in self.approval_requests],
        }
        return {key: value for key, value in found.items() if value}


def response_details(completion: ChatCompletion) -> ResponseDetails | None:
    """The :class:`ResponseDetails` of a completion that came from the Responses API, else None."""
    details = completion.extra.get("response")
    return details if isinstance(details, ResponseDetails) else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_responses_usage(raw: Any) -> Usage | None:
    """Usage from a Responses ``usage`` object (``input_tokens``/``output_tokens``).

    ``None`` when absent, and when every count is zero: the router (``responses.js``) reports
    zeros when its provider sent no usage, and no answer costs zero tokens.
    """
    if not isinstance(raw, Mapping):
        return None
    prompt, completion = _int(raw.get("input_tokens")), _int(raw.get("output_tokens"))
    if prompt == completion == _int(raw.get("total_tokens")) == 0:
        return None
    input_details = as_mapping(raw.get("input_tokens_details"))
    output_details = as_mapping(raw.get("output_tokens_details"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_int(raw.get("total_tokens"), prompt + completion),
        cached_tokens=_int(input_details["cached_tokens"])
        if "cached_tokens" in input_details
        else None,
        reasoning_tokens=_int(output_details["reasoning_tokens"])
        if "reasoning_tokens" in output_details
        else None,
    )


def joined_text(parts: Any, kind: str, key: str = "text") -> str:
    """The ``key`` text of every part of type ``kind`` in a content or summary list, joined."""
    if not isinstance(parts, list):
        return ""
    return "".join(
        str(part.get(key) or "")
        for part in parts
        if isinstance(part, Mapping) and part.get("type") == kind
    )


def error_text(error: Any) -> str:
    """A server error object as ``message (code)``."""
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("type")
        message = str(error.get("message") or json.dumps(error)[:200])
        return f"{message} ({code})" if code else message
    return str(error) if error else "no reason given"


def upstream_status(body: Mapping[str, Any]) -> int | None:
    """The provider's HTTP status a failed response names, if any.

    The router (``responses.js``) reports a provider's failure as ``status: "failed"`` with the
    provider's status opening ``error.message`` (recorded: ``"500 image input is not
    supported ..."``); a ``code`` of ``server_error`` without a status counts as a 500.
    """
    error = as_mapping(body.get("error"))
    head = str(error.get("message") or "")[:3]
    if len(head) == 3 and head.isdigit() and 400 <= int(head) < 600:  # noqa: PLR2004
        return int(head)
    return 500 if error.get("code") == "server_error" else None


def _mcp_call(item: Mapping[str, Any]) -> McpCall:
    error = item.get("error")
    return McpCall(
        id=str(item.get("id") or ""),
        server_label=str(item.get("server_label") or ""),
        name=str(item.get("name") or ""),
        arguments=str(item.get("arguments") or ""),
        output=_str_or_none(item.get("output")),
        error=None if error is None else error_text(error),
    )


def _mcp_tool_list(item: Mapping[str, Any]) -> McpToolList:
    tools = item.get("tools")
    error = item.get("error")
    return McpToolList(
        id=str(item.get("id") or ""),
        server_label=str(item.get("server_label") or ""),
        tools=tuple(tool for tool in tools if isinstance(tool, Mapping))
        if isinstance(tools, list)
        else (),
        error=None if error is None else error_text(error),
    )


def _approval(item: Mapping[str, Any]) -> McpApprovalRequest:
    return McpApprovalRequest(
        id=str(item.get("id") or ""),
        server_label=str(item.get("server_label") or ""),
        name=str(item.get("name") or ""),
        arguments=str(item.get("arguments") or ""),
    )


@dataclass
class OutputFold:
    """Output items folded into the parts of a completion (shared by both readings)."""

    content: io.StringIO = field(default_factory=io.StringIO)
    refusal: io.StringIO = field(default_factory=io.StringIO)
    reasoning: io.StringIO = field(default_factory=io.StringIO)
    summary: io.StringIO = field(default_factory=io.StringIO)
    tool_calls: list[ToolCall] = field(default_factory=list)
    mcp_calls: list[McpCall] = field(default_factory=list)
    mcp_tool_lists: list[McpToolList] = field(default_factory=list)
    approvals: list[McpApprovalRequest] = field(default_factory=list)
    items: list[Mapping[str, Any]] = field(default_factory=list)

    def take_server_item(self, item: Mapping[str, Any]) -> bool:
        """Record a remote MCP item; False for any other kind."""
        kind = item.get("type")
        if kind == "mcp_call":
            self.mcp_calls.append(_mcp_call(item))
        elif kind == "mcp_list_tools":
            self.mcp_tool_lists.append(_mcp_tool_list(item))
        elif kind == "mcp_approval_request":
            self.approvals.append(_approval(item))
        else:
            return False
        return True

    def take(self, item: Mapping[str, Any]) -> None:
        """Fold one complete output item."""
        self.items.append(item)
        kind = item.get("type")
        if kind == "message":
            self.content.write(joined_text(item.get("content"), "output_text"))
            self.refusal.write(joined_text(item.get("content"), "refusal", "refusal"))
        elif kind == "reasoning":
            self.reasoning.write(joined_text(item.get("content"), "reasoning_text"))
            self.summary.write(joined_text(item.get("summary"), "summary_text"))
        elif kind == "function_call":
            self.tool_calls.append(tool_call_of(item, len(self.tool_calls)))
        else:
            self.take_server_item(item)


def tool_call_of(item: Mapping[str, Any], index: int) -> ToolCall:
    """A ``function_call`` item as a :class:`ToolCall` whose id is the item's ``call_id``."""
    arguments = item.get("arguments")
    return ToolCall(
        id=str(item.get("call_id") or item.get("id") or f"call_{index}"),
        name=str(item.get("name") or ""),
        arguments=arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        index=index,
    )


def finish_reason_for(status: str, incomplete_reason: str | None, has_tools: bool) -> str:
    """The chat ``finish_reason`` of a finished response."""
    if status == "incomplete":
        return _INCOMPLETE_FINISH.get(incomplete_reason or "", "length")
    return "tool_calls" if has_tools else "stop"


def assemble(  # noqa: PLR0913 - the parts of one answer
    header: Mapping[str, Any],
    output: OutputFold,
    *,
    status: str,
    incomplete_reason: str | None,
    usage: Usage | None,
    tool_calls: tuple[ToolCall, ...] | None = None,
) -> ChatCompletion:
    """The completion (and its :class:`ResponseDetails`) of folded output items."""
    reasoning = output.reasoning.getvalue() or output.summary.getvalue() or None
    content = output.content.getvalue()
    calls = tuple(output.tool_calls) if tool_calls is None else tool_calls
    details = ResponseDetails(
        status=status,
        incomplete_reason=incomplete_reason,
        reasoning_summary=output.summary.getvalue() or None,
        mcp_calls=tuple(output.mcp_calls),
        mcp_tool_lists=tuple(output.mcp_tool_lists),
        approval_requests=tuple(output.approvals),
        output=tuple(output.items),
        previous_response_id=_str_or_none(header.get("previous_response_id")),
    )
    choice = ChatChoice(
        content=content if content or not calls else None,
        reasoning=reasoning,
        refusal=output.refusal.getvalue() or None,
        tool_calls=calls,
        finish_reason=finish_reason_for(status, incomplete_reason, bool(calls))
        if status in TERMINAL_STATUSES
        else None,
    )
    return ChatCompletion(
        id=str(header.get("id") or ""),
        model=str(header.get("model") or ""),
        created=_int(header.get("created_at")) or None,
        choices=(choice,),
        usage=usage,
        extra={"response": details},
    )


def failure_text(body: Mapping[str, Any]) -> str:
    """Why a response failed or stopped, from its ``error`` or ``incomplete_details``."""
    return error_text(body.get("error") or as_mapping(body.get("incomplete_details")))


def parse_response(body: Any) -> ChatCompletion:
    """Parse a non-streamed Responses answer into a chat completion (see the module docstring).

    Output text of every ``message`` item is joined, in order, into ``content``; reasoning text
    into ``reasoning`` (the summary when the server sends no reasoning text); each
    ``function_call`` becomes a :class:`ToolCall` whose ``id`` is the item's ``call_id`` (the id a
    ``function_call_output`` answers). ``finish_reason`` is ``tool_calls``, ``stop``, or for an
    incomplete response ``length``/``content_filter``. Raises :class:`HFResponseError` for a
    failed response (the router sends one with HTTP 200), for one that is not finished, and for a
    body that is not a response.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("output"), list):
        if isinstance(body, Mapping) and body.get("error"):
            raise HFResponseError(
                f"The server reported an error instead of a response: {failure_text(body)}.",
                body=json.dumps(body)[:500],
            )
        raise HFResponseError(
            "The answer has no 'output' list: the server does not speak the Responses API on "
            "this route (check base_url, or call chat completions with use_responses_api=False).",
            body=json.dumps(body)[:500] if body is not None else "",
        )
    status = str(body.get("status") or "completed")
    if status == "failed" or body.get("error"):
        raise HFResponseError(
            f"The response {body.get('id') or ''} failed on the server: {failure_text(body)}. "
            "Retry, or choose another model or provider.",
            body=json.dumps(body)[:500],
            status_code=upstream_status(body),
        )
    if status not in TERMINAL_STATUSES:
        raise HFResponseError(
            f"The response is not finished (status {status!r}): hfbridge does not poll "
            "background responses. Send the request without background=True.",
            body=json.dumps(body)[:500],
        )
    output = OutputFold()
    for item in body["output"]:
        if isinstance(item, Mapping):
            output.take(item)
    reason = _str_or_none(as_mapping(body.get("incomplete_details")).get("reason"))
    return assemble(
        body,
        output,
        status=status,
        incomplete_reason=reason if status == "incomplete" else None,
        usage=parse_responses_usage(body.get("usage")),
    )
