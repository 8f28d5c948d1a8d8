"""LlamaIndex messages to chat wire dicts and back. No network I/O (an image given by path is read).

Tool calls on an assistant message are kept twice, as LlamaIndex itself reads both: as
``ToolCallBlock``s (what ``FunctionAgent`` and the OpenAI integration use) and, in OpenAI dict
form, under ``additional_kwargs["tool_calls"]`` (what ``FunctionCallingProgram`` streaming and the
chat engines check). Replaying a history prefers the blocks. A tool result message carries the id
of the call it answers in ``additional_kwargs["tool_call_id"]``; its function name is taken from
``additional_kwargs["name"]`` or, as ``FunctionAgent`` stores only the id, from the assistant turn
that made the call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from hfbridge.errors import HFConfigError
from hfbridge.wire.chat import (
    ChatChoice,
    ChatCompletion,
    ToolCall,
    Usage,
    WireTools,
    arguments_text,
    normalize_tool_choice,
)
from hfbridge.wire.chat import wire_tools as checked_tools
from hfbridge.wire.responses_result import response_details

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

    from hfbridge.inference.chat import ChatResult
    from hfbridge.wire.stream import StreamDelta, StreamRecord

WIRE_ROLES: dict[MessageRole, str] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "developer",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",  # legacy OpenAI function results answer a call id too
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}
_SKIPPED_BLOCKS = (ToolCallBlock, ThinkingBlock, CachePoint)
_DEFAULT_IMAGE_MIMETYPE = "image/png"


# --- history -> wire ---------------------------------------------------------------------------


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Convert a LlamaIndex history to OpenAI chat messages, replaying tool calls and results."""
    call_names: dict[str, str] = {}  # tool call id -> function name, from earlier assistant turns
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = WIRE_ROLES[message.role]
        if role == "tool":
            wire.append(_tool_result(message, call_names))
            continue
        entry: dict[str, Any] = {"role": role, "content": message_content(message)}
        if role == "assistant":
            calls = wire_tool_calls(message)
            if calls:
                entry["tool_calls"] = calls
                call_names.update((call["id"], call["function"]["name"]) for call in calls)
                if not entry["content"]:
                    entry["content"] = None
            elif entry["content"] is None:
                entry["content"] = ""  # an empty turn; servers refuse a null content without calls
        wire.append(entry)
    return wire


def message_content(message: ChatMessage) -> str | list[dict[str, Any]] | None:
    """The message's text, or OpenAI content parts when it holds images.

    ``None`` when it holds neither (``ChatMessage(content=None)``): the chat wire then refuses a
    user, system or tool message without content, before any request, instead of sending ``""``.
    Raises :class:`HFConfigError` for blocks chat completions cannot carry (audio, video,
    documents, citations).
    """
    texts: list[str] = []
    parts: list[dict[str, Any]] | None = None
    if not any(isinstance(block, (TextBlock, ImageBlock)) for block in message.blocks):
        _refuse_unsupported(message)
        return None
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
            if parts is not None:
                parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            if parts is None:
                parts = [{"type": "text", "text": text} for text in texts]
            parts.append(image_part(block))
        elif not isinstance(block, _SKIPPED_BLOCKS):
            _refuse_unsupported(message)
    return parts if parts is not None else "\n".join(texts)


def _refuse_unsupported(message: ChatMessage) -> None:
    for block in message.blocks:
        if not isinstance(block, (TextBlock, ImageBlock, *_SKIPPED_BLOCKS)):
            raise HFConfigError(
                f"a {message.role.value} message holds a {block.block_type!r} block, which chat "
                "completions cannot carry: send text and images only (extract the text of "
                "documents, e.g. with a LlamaIndex reader)."
            )


def image_part(block: ImageBlock) -> dict[str, Any]:
    """An ``image_url`` part: remote URLs pass through (never fetched here), data is inlined."""
    if block.url is not None and block.image is None and block.path is None:
        url = str(block.url)
    else:
        data = block.resolve_image(as_base64=True).read().decode("ascii")
        url = f"data:{block.image_mimetype or _DEFAULT_IMAGE_MIMETYPE};base64,{data}"
    image: dict[str, Any] = {"url": url}
    if block.detail:
        image["detail"] = block.detail
    return {"type": "image_url", "image_url": image}


def wire_tool_calls(message: ChatMessage) -> list[dict[str, Any]]:
    """The assistant message's tool calls in OpenAI form (blocks first, else additional_kwargs)."""
    blocks = [block for block in message.blocks if isinstance(block, ToolCallBlock)]
    if blocks:
        return [
            tool_call_dict(
                block.tool_call_id or f"call_{position}",
                block.tool_name,
                arguments_text(block.tool_kwargs),
            )
            for position, block in enumerate(blocks)
        ]
    raw = message.additional_kwargs.get("tool_calls")
    if not isinstance(raw, list):
        return []
    calls = []
    for position, item in enumerate(raw):
        function = _field(item, "function")
        calls.append(
            tool_call_dict(
                str(_field(item, "id") or f"call_{position}"),
                str(_field(function, "name") or ""),
                arguments_text(_field(function, "arguments")),
            )
        )
    return calls


def _field(item: Any, key: str) -> Any:
    """``item[key]`` for dicts, ``item.key`` for objects (histories from other integrations)."""
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def _tool_result(message: ChatMessage, call_names: Mapping[str, str]) -> dict[str, Any]:
    extra = message.additional_kwargs
    call_id = extra.get("tool_call_id")
    entry: dict[str, Any] = {"role": "tool", "tool_call_id": call_id}
    name = extra.get("name") or (call_names.get(call_id) if isinstance(call_id, str) else None)
    if name:
        entry["name"] = name
    entry["content"] = message_content(message)
    return entry


def tool_call_dict(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One tool call in OpenAI form."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- tools -------------------------------------------------------------------------------------


def wire_tools(tools: Sequence[BaseTool]) -> WireTools:
    """OpenAI tool definitions for LlamaIndex tools (checked once, before any request)."""
    return checked_tools(tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools)


def wire_tool_choice(
    tool_choice: Any, tool_required: bool, tools: Sequence[Mapping[str, Any]]
) -> str | dict[str, Any] | None:
    """The ``tool_choice`` to send: the caller's (normalised), else ``required``/``auto``."""
    if tool_choice is None:
        tool_choice = "required" if tool_required else "auto"
    names = [tool["function"]["name"] for tool in tools]
    return normalize_tool_choice(tool_choice, names)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict; tolerates partial JSON (mid-stream); ``{}`` if unreadable."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = parse_partial_json(arguments)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return {}
    return value if isinstance(value, dict) else {}


def tool_selections(message: ChatMessage) -> list[ToolSelection]:
    """The tool calls of an assistant message as LlamaIndex ``ToolSelection``s."""
    blocks = [block for block in message.blocks if isinstance(block, ToolCallBlock)]
    if blocks:
        return [
            ToolSelection(
                tool_id=block.tool_call_id or "",
                tool_name=block.tool_name,
                tool_kwargs=parse_arguments(block.tool_kwargs),
            )
            for block in blocks
        ]
    return [
        ToolSelection(
            tool_id=call["id"],
            tool_name=call["function"]["name"],
            tool_kwargs=parse_arguments(call["function"]["arguments"]),
        )
        for call in wire_tool_calls(message)
    ]


def keep_first_tool_call(message: ChatMessage) -> None:
    """Drop every tool call but the first (when parallel calls were not allowed)."""
    calls = [block for block in message.blocks if isinstance(block, ToolCallBlock)]
    if len(calls) > 1:
        message.blocks = [
            block for block in message.blocks if not isinstance(block, ToolCallBlock)
        ] + [calls[0]]
    raw = message.additional_kwargs.get("tool_calls")
    if isinstance(raw, list) and len(raw) > 1:
        message.additional_kwargs["tool_calls"] = raw[:1]


# --- wire -> responses -------------------------------------------------------------------------


def assistant_message(content: str, reasoning: str, calls: Sequence[ToolCall]) -> ChatMessage:
    """An assistant message with its thinking, text and tool calls as blocks."""
    blocks: list[Any] = [ThinkingBlock(content=reasoning)] if reasoning else []
    blocks.append(TextBlock(text=content))
    extra: dict[str, Any] = {}
    if calls:
        blocks.extend(
            ToolCallBlock(tool_call_id=call.id, tool_name=call.name, tool_kwargs=call.arguments)
            for call in calls
        )
        extra["tool_calls"] = [tool_call_dict(call.id, call.name, call.arguments) for call in calls]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)


def usage_kwargs(usage: Usage | None) -> dict[str, Any]:
    """Token counts under the keys LlamaIndex's token counters read (OpenAI's)."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def raw_completion(completion: ChatCompletion) -> dict[str, Any]:
    """The completion in OpenAI's shape, for ``ChatResponse.raw`` (token counters read it)."""
    choices = []
    for choice in completion.choices:
        message: dict[str, Any] = {"role": "assistant", "content": choice.content}
        if choice.reasoning is not None:
            message["reasoning_content"] = choice.reasoning
        if choice.tool_calls:
            message["tool_calls"] = [
                tool_call_dict(call.id, call.name, call.arguments) for call in choice.tool_calls
            ]
        choices.append(
            {"index": choice.index, "message": message, "finish_reason": choice.finish_reason}
        )
    details = response_details(completion)
    extra = (
        completion.extra
        if details is None
        else {**completion.extra, "response": details.metadata()}
    )
    return {
        **extra,
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": choices,
        "usage": usage_kwargs(completion.usage) or None,
    }


def raw_chunk(delta: StreamDelta, usage: Usage | None) -> dict[str, Any]:
    """One stream delta in OpenAI's chunk shape; ``usage`` is the latest the stream reported."""
    body: dict[str, Any] = {}
    if delta.content:
        body["content"] = delta.content
    if delta.reasoning:
        body["reasoning_content"] = delta.reasoning
    if delta.tool_calls:
        body["tool_calls"] = [
            {"index": call.index, "id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}}
            for call in delta.tool_calls
        ]  # fmt: skip
    choice = {"index": delta.choice_index, "delta": body, "finish_reason": delta.finish_reason}
    return {"object": "chat.completion.chunk", "choices": [choice],
            "usage": usage_kwargs(usage) or None}  # fmt: skip


def result_kwargs(result: ChatResult) -> dict[str, Any]:
    """``ChatResponse.additional_kwargs`` for a finished call: usage and where it ran."""
    extra = usage_kwargs(result.completion.usage)
    extra["model"] = result.model
    for key in ("provider", "request_id", "cost_usd"):
        value = getattr(result, key)
        if value is not None:
            extra[key] = value
    choice: ChatChoice = result.completion.first
    if choice.finish_reason is not None:
        extra["finish_reason"] = choice.finish_reason
    if choice.native_finish_reason is not None:
        extra["native_finish_reason"] = choice.native_finish_reason
    details = response_details(result.completion)
    if details is not None:
        extra.update(details.metadata())
    return extra


def chat_response(result: ChatResult) -> ChatResponse:
    """A LlamaIndex ``ChatResponse`` for a finished call; ``raw`` is the completion as a dict."""
    choice = result.completion.first
    return ChatResponse(
        message=assistant_message(choice.content or "", choice.reasoning or "", choice.tool_calls),
        raw=raw_completion(result.completion),
        additional_kwargs=result_kwargs(result),
    )


def completion_response(response: ChatResponse) -> CompletionResponse:
    """The ``CompletionResponse`` form of a chat response (text, delta, raw, usage)."""
    return CompletionResponse(
        text=response.message.content or "",
        delta=response.delta,
        raw=response.raw,
        additional_kwargs=response.additional_kwargs,
    )


def final_response(result: ChatResult) -> ChatResponse:
    """The last response of a stream: the whole answer, with where and how the call ran.

    Like :func:`chat_response` (usage, finish reason, request id, provider, cost in
    ``additional_kwargs``), with an empty ``delta``: a consumer joining deltas is unaffected.
    """
    response = chat_response(result)
    response.delta = ""
    return response


def stream_response(delta: StreamDelta, record: StreamRecord) -> ChatResponse | None:
    """The cumulative response after ``delta``, or ``None`` when it adds nothing to choice 0.

    ``record`` is the stream's own accumulator (the route's fold), which has already taken the
    chunk ``delta`` came from: the message so far is read from it, not folded a second time.
    """
    if delta.choice_index != 0 or not (
        delta.content or delta.reasoning or delta.tool_calls or delta.usage or delta.finish_reason
    ):
        return None
    content, reasoning = record.content(0)
    extra = usage_kwargs(delta.usage)
    if delta.reasoning:
        extra["thinking_delta"] = delta.reasoning
    if delta.finish_reason:
        extra["finish_reason"] = delta.finish_reason
    if delta.native_finish_reason:
        extra["native_finish_reason"] = delta.native_finish_reason
    return ChatResponse(
        message=assistant_message(content, reasoning, record.tool_calls(0)),
        delta=delta.content,
        raw=raw_chunk(delta, record.usage),
        additional_kwargs=extra,
    )
