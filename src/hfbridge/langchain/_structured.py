"""``with_structured_output`` for :class:`ChatHF`: the request each method sends, and its parser.

``json_schema`` asks for native ``response_format`` JSON, ``function_calling`` forces a call of a
single tool built from the schema, ``json_mode`` asks for any JSON object. ``include_raw`` returns
``{"raw", "parsed", "parsing_error"}`` exactly as ``ChatOpenAI`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, get_args

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_function
from langchain_core.utils.pydantic import is_basemodel_subclass

from hfbridge.errors import HFConfigError
from hfbridge.wire.chat import json_schema_format

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel, LanguageModelInput

Method = Literal["json_schema", "function_calling", "json_mode"]
METHODS: tuple[str, ...] = get_args(Method)


def is_pydantic_class(schema: Any) -> bool:
    """Whether ``schema`` is a Pydantic model class (v1 or v2)."""
    return isinstance(schema, type) and is_basemodel_subclass(schema)


def response_format_for(schema: Any, *, strict: bool | None = None) -> dict[str, Any]:
    """The ``response_format`` for ``schema`` (Pydantic, TypedDict, JSON schema, or OpenAI form)."""
    if isinstance(schema, Mapping) and schema.get("type") == "json_schema":
        return dict(schema)
    if isinstance(schema, Mapping) and "name" in schema and "schema" in schema:
        return {"type": "json_schema", "json_schema": dict(schema)}
    try:
        function = convert_to_openai_function(schema, strict=strict)
    except (ValueError, TypeError) as exc:
        raise HFConfigError(f"cannot build a JSON schema from {schema!r}: {exc}") from exc
    response_format = json_schema_format(function["name"], function["parameters"], strict=strict)
    if function.get("description"):
        response_format["json_schema"]["description"] = function["description"]
    return response_format


def _reject_refusal(message: BaseMessage) -> BaseMessage:
    refusal = message.additional_kwargs.get("refusal") if isinstance(message, AIMessage) else None
    if refusal and not message.text:
        raise OutputParserException(f"The model refused to answer: {refusal}")
    return message


def _parser(schema: Any, method: Method, tool_name: str | None) -> Runnable[Any, Any]:
    pydantic = is_pydantic_class(schema)
    if method == "function_calling":
        if pydantic:
            return PydanticToolsParser(tools=[schema], first_tool_only=True)
        return JsonOutputKeyToolsParser(key_name=str(tool_name), first_tool_only=True)
    content_parser: Runnable[Any, Any] = (
        PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
    )
    return RunnableLambda(_reject_refusal) | content_parser


def structured_runnable(  # noqa: PLR0913 - with_structured_output's own arguments
    model: BaseChatModel,
    schema: Any,
    *,
    method: str,
    include_raw: bool,
    strict: bool | None,
    bind_kwargs: Mapping[str, Any],
) -> Runnable[LanguageModelInput, Any]:
    """``model`` bound for ``method`` and piped into the parser for ``schema``."""
    if method not in METHODS:
        raise HFConfigError(f"method {method!r} is not supported: use one of {', '.join(METHODS)}.")
    if method == "json_mode" and strict is not None:
        raise HFConfigError("strict applies to json_schema and function_calling, not json_mode.")
    if schema is None and method != "json_mode":
        raise HFConfigError(f"method={method!r} needs a schema (Pydantic, TypedDict or dict).")
    trace_schema = schema
    tool_name: str | None = None
    llm: Runnable[LanguageModelInput, Any]
    if method == "function_calling":
        tool_name = convert_to_openai_function(schema)["name"]
        llm = model.bind_tools(
            [schema],
            tool_choice=tool_name,
            parallel_tool_calls=False,
            strict=strict,
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict}, "schema": trace_schema,
            },
            **bind_kwargs,
        )  # fmt: skip
    else:
        response_format = (
            {"type": "json_object"}
            if method == "json_mode"
            else response_format_for(schema, strict=strict)
        )
        llm = model.bind(
            response_format=response_format,
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict}, "schema": trace_schema,
            },
            **bind_kwargs,
        )  # fmt: skip
    parser = _parser(schema, method, tool_name)  # type: ignore[arg-type]
    if not include_raw:
        return llm | parser
    with_parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    without = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | with_parsed.with_fallbacks(
        [without], exception_key="parsing_error"
    )
