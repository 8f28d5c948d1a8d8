"""Conversions between LangChain objects and hfbridge's wire types, for :class:`ChatHF`.

Messages go out as OpenAI chat dicts; completions and stream deltas come back as LangChain
``ChatResult`` / ``ChatGenerationChunk`` objects with tool calls, usage and response metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    InputTokenDetails,
    OutputTokenDetails,
    SystemMessage,
    UsageMetadata,
    convert_to_openai_messages,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import ChatResult as ServiceResult
from hfbridge.langchain._base import MODEL_PROVIDER
from hfbridge.wire.chat import ChatChoice, Usage, WireTools, normalize_tool_choice, wire_tools
from hfbridge.wire.responses import is_server_tool
from hfbridge.wire.responses_result import response_details
from hfbridge.wire.stream import StreamDelta

_PLAIN_ROLES: dict[type, str] = {HumanMessage: "user", SystemMessage: "system"}

# --- messages out --------------------------------------------------------------------------------


def messages_to_wire(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI chat dicts (``name`` kept, tool calls and results mapped)."""
    return [message_to_wire(message) for message in messages]


def message_to_wire(message: BaseMessage) -> dict[str, Any]:
    """One message as an OpenAI chat dict; :class:`HFConfigError` if it cannot be expressed."""
    if isinstance(message, AIMessage):
        return _assistant_to_wire(message)
    role = _PLAIN_ROLES.get(type(message))
    if role is not None and isinstance(message.content, str):
        # Plain text from the user or the system, as convert_to_openai_messages writes it.
        wire = {"role": role, "name": message.name} if message.name else {"role": role}
        wire["content"] = message.content
        return wire
    try:
        wire = convert_to_openai_messages(message)
    except (ValueError, TypeError) as exc:
        raise HFConfigError(
            f"cannot send a {type(message).__name__} to a chat completion endpoint: {exc}"
        ) from exc
    return dict(wire)


def _assistant_to_wire(message: AIMessage) -> dict[str, Any]:
    calls = [
        {
            "id": call["id"] or f"call_{position}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call["args"], ensure_ascii=False),
            },
        }
        for position, call in enumerate(message.tool_calls)
    ]
    # A malformed call from an earlier turn is replayed verbatim so that the tool message
    # answering it still has a call to refer to.
    calls += [
        {
            "id": call.get("id") or f"call_{len(calls) + position}",
            "type": "function",
            "function": {"name": call.get("name") or "", "arguments": call.get("args") or ""},
        }
        for position, call in enumerate(message.invalid_tool_calls)
    ]
    text = message.text
    wire: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if message.name:
        wire["name"] = message.name
    if calls:
        wire["tool_calls"] = calls
    return wire


# --- tools ---------------------------------------------------------------------------------------


def tools_to_wire(tools: Sequence[Any], *, strict: bool | None = None) -> WireTools:
    """Pydantic classes, functions, ``BaseTool`` objects or dicts as validated OpenAI tools.

    Tools converted already (bound with ``bind_tools``, then passed on each call) are kept as they
    are: converted and checked once.
    """
    if isinstance(tools, WireTools):
        return tools
    converted, server_side = [], []
    for tool in tools:
        if is_server_tool(tool):  # {"type": "mcp", ...}: the server runs it, passed as given
            server_side.append(dict(tool))
            continue
        try:
            openai_tool = convert_to_openai_tool(tool, strict=strict)
        except (ValueError, TypeError) as exc:
            raise HFConfigError(f"cannot use {tool!r} as a tool: {exc}") from exc
        converted.append(openai_tool)
    checked = wire_tools(converted)
    checked.extend(server_side)
    return checked


def tool_params(
    tools: Sequence[Any], tool_choice: Any = None, *, strict: bool | None = None
) -> dict[str, Any]:
    """The ``tools`` / ``tool_choice`` body fields for ``tools`` and any spelling of a choice."""
    checked = tools_to_wire(tools, strict=strict)
    params: dict[str, Any] = {"tools": checked} if checked else {}
    choice = normalize_tool_choice(tool_choice, checked.names)
    if choice is not None:
        params["tool_choice"] = choice
    return params


# --- results in ----------------------------------------------------------------------------------


def usage_to_metadata(usage: Usage | None) -> UsageMetadata | None:
    """Token counts as LangChain ``UsageMetadata`` (cache and reasoning details when reported)."""
    if usage is None:
        return None
    metadata = UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
    if usage.cached_tokens is not None:
        metadata["input_token_details"] = InputTokenDetails(cache_read=usage.cached_tokens)
    if usage.reasoning_tokens is not None:
        metadata["output_token_details"] = OutputTokenDetails(reasoning=usage.reasoning_tokens)
    return metadata


def response_metadata(
    result: ServiceResult, choice: ChatChoice | None = None, *, logprobs: bool = True
) -> dict[str, Any]:
    """What served the call: finish reason, model, provider, request id, route, cost."""
    completion = result.completion
    metadata: dict[str, Any] = {
        "finish_reason": choice.finish_reason if choice else None,
        "native_finish_reason": choice.native_finish_reason if choice else None,
        "model_name": completion.model or result.model,
        "model_provider": MODEL_PROVIDER,
        "provider": result.provider,
        "request_id": result.request_id,
        "route": result.route or None,
        "cost_usd": result.cost_usd,
        "system_fingerprint": completion.system_fingerprint,
        "id": completion.id or None,
    }
    details = response_details(completion)
    if details is not None:
        metadata.update(details.metadata())
    if logprobs and choice is not None:
        metadata["logprobs"] = choice.logprobs
    return {key: value for key, value in metadata.items() if value is not None}


def _message_kwargs(choice: ChatChoice) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if choice.reasoning:
        extra["reasoning_content"] = choice.reasoning
    if choice.refusal:
        extra["refusal"] = choice.refusal
    return extra


def choice_to_message(choice: ChatChoice, result: ServiceResult) -> AIMessage:
    """One choice as an ``AIMessage``; malformed tool arguments land in ``invalid_tool_calls``."""
    calls, invalid = [], []
    for call in choice.tool_calls:
        arguments, error = call.parsed_arguments()
        if arguments is None:
            invalid.append(
                invalid_tool_call(name=call.name, args=call.arguments, id=call.id, error=error)
            )
        else:
            calls.append(tool_call(name=call.name, args=arguments, id=call.id))
    fields: dict[str, Any] = {
        "usage_metadata": usage_to_metadata(result.completion.usage),
        "response_metadata": response_metadata(result, choice),
        "id": result.completion.id or None,
    }
    # Empty lists and dicts are left to their defaults: validating them costs a third of the build.
    extra = _message_kwargs(choice)
    if extra:
        fields["additional_kwargs"] = extra
    if calls:
        fields["tool_calls"] = calls
    if invalid:
        fields["invalid_tool_calls"] = invalid
    return AIMessage(content=choice.content or "", **fields)


def to_chat_result(result: ServiceResult) -> ChatResult:
    """A finished service call as a LangChain ``ChatResult`` (one generation per choice)."""
    completion = result.completion
    generations = [
        ChatGeneration(
            message=choice_to_message(choice, result),
            generation_info={"finish_reason": choice.finish_reason}
            | ({"logprobs": choice.logprobs} if choice.logprobs is not None else {}),
        )
        for choice in completion.choices
    ]
    llm_output: dict[str, Any] = {"model_name": completion.model or result.model}
    if completion.usage is not None:
        usage = completion.usage
        llm_output["token_usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
    return ChatResult(generations=generations, llm_output=llm_output)


# --- streams in ----------------------------------------------------------------------------------


def delta_to_chunk(delta: StreamDelta) -> ChatGenerationChunk | None:
    """A stream delta of the first choice as a chunk; ``None`` when it carries nothing to show.

    Usage and the finish reason are reported once, on the final chunk (:func:`final_chunk`), so that
    merging chunks never double-counts tokens or concatenates metadata strings.
    """
    if delta.choice_index != 0:
        return None
    if not (delta.tool_calls or delta.reasoning or delta.logprobs is not None):
        return text_chunk(delta.content) if delta.content else None
    chunks = [
        tool_call_chunk(name=call.name, args=call.arguments, id=call.id, index=call.index)
        for call in delta.tool_calls
    ]
    extra = {"reasoning_content": delta.reasoning} if delta.reasoning else {}
    if not (delta.content or chunks or extra or delta.logprobs is not None):
        return None
    metadata = {"logprobs": delta.logprobs} if delta.logprobs is not None else {}
    message = AIMessageChunk(
        content=delta.content,
        additional_kwargs=extra,
        tool_call_chunks=chunks,
        response_metadata=metadata,
    )
    return ChatGenerationChunk(message=message)


V1_TEXT_INDEX = "lc_hf_text"
V1_REASONING_INDEX = "lc_hf_reasoning"
V1_TOOL_INDEX = "lc_hf_tool_{}"
"""Indices of the v1 content blocks of a stream: distinct per kind (and per tool call), so merging
chunks joins each block with its own continuation, never a reasoning block with a tool call
(LangChain merges blocks by an integer index, or a string one starting with ``lc_``)."""


def v1_chunk(delta: StreamDelta) -> ChatGenerationChunk | None:
    """A stream delta as a chunk whose content is v1 blocks (``output_version="v1"``).

    LangChain's generic reading of a chunk numbers a reasoning block and the first tool-call
    block alike (index 0), and merging the chunks then fuses them into one broken block; these
    blocks carry an index of their own per kind instead, and the chunk says it is v1 already.
    """
    chunk = delta_to_chunk(delta)
    if chunk is None:
        return None
    blocks: list[dict[str, Any]] = []
    if delta.reasoning:
        blocks.append(
            {"type": "reasoning", "reasoning": delta.reasoning, "index": V1_REASONING_INDEX}
        )
    if delta.content:
        blocks.append({"type": "text", "text": delta.content, "index": V1_TEXT_INDEX})
    for call in delta.tool_calls:
        block: dict[str, Any] = {
            "type": "tool_call_chunk",
            "index": V1_TOOL_INDEX.format(call.index),
        }
        block.update({"id": call.id, "name": call.name, "args": call.arguments})
        blocks.append(block)
    message = cast("AIMessageChunk", chunk.message)
    message.content = blocks  # type: ignore[assignment,unused-ignore]
    message.response_metadata = {**message.response_metadata, "output_version": "v1"}
    return chunk


def text_chunk(text: str) -> ChatGenerationChunk:
    """A chunk carrying ``text`` only: the common case, built the way LangChain's own fakes do."""
    return ChatGenerationChunk(message=AIMessageChunk(content=text))


def final_chunk(result: ServiceResult) -> ChatGenerationChunk:
    """The last chunk of a stream: usage, finish reason and where the call ran."""
    completion = result.completion
    metadata = response_metadata(result, completion.first, logprobs=False)
    message = AIMessageChunk(
        content="",
        usage_metadata=usage_to_metadata(completion.usage),
        response_metadata=metadata,
        chunk_position="last",
    )
    return ChatGenerationChunk(
        message=message, generation_info={"finish_reason": metadata.get("finish_reason")}
    )


def stop_list(stop: str | Sequence[str] | None) -> list[str] | None:
    """``stop`` as a list (``None`` when empty)."""
    if stop is None:
        return None
    values = [stop] if isinstance(stop, str) else list(stop)
    return values or None
