"""Non-streamed Responses answers: recorded llama-server and router (responses.js) bodies."""

import json
from pathlib import Path

import pytest

from hfbridge.errors import HFResponseError
from hfbridge.wire.responses_result import (
    McpApprovalRequest,
    McpCall,
    parse_response,
    parse_responses_usage,
    response_details,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"


def body(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("server", ["llamacpp", "routerjs"])
def test_text(server):
    completion = parse_response(body(f"{server}_text.json"))
    assert completion.id.startswith("resp_")
    assert completion.model == "qwen2.5-coder-0.5b-instruct"
    assert completion.created and completion.created > 1_700_000_000
    choice = completion.first
    assert choice.content == "Bonjour!"
    assert choice.finish_reason == "stop" and choice.tool_calls == () and choice.reasoning is None
    details = response_details(completion)
    assert details is not None and details.status == "completed" and len(details.output) == 1


def test_llamacpp_usage_and_cached_tokens():
    usage = parse_response(body("llamacpp_tool_replay.json")).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (339, 17, 356)
    assert usage.cached_tokens == 297 and usage.reasoning_tokens is None


def test_router_zero_usage_means_not_reported():
    """responses.js reports zeros when its provider sent no usage: that is unknown, not free."""
    assert parse_response(body("routerjs_text.json")).usage is None
    usage = parse_response(body("routerjs_reasoning.json")).usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (12, 9)
    assert usage.reasoning_tokens == 0


@pytest.mark.parametrize("server", ["llamacpp", "routerjs"])
def test_function_call_id_is_the_call_id(server):
    completion = parse_response(body(f"{server}_tool_call.json"))
    item = next(
        i for i in body(f"{server}_tool_call.json")["output"] if i["type"] == "function_call"
    )
    (call,) = completion.first.tool_calls
    assert call.id == item["call_id"] != item["id"]
    assert call.name == "get_weather" and call.parsed_arguments() == ({"city": "Paris"}, None)
    assert completion.first.finish_reason == "tool_calls"
    assert completion.first.content is None


@pytest.mark.parametrize("name", ["llamacpp_tool_replay.json", "routerjs_tool_replay.json"])
def test_an_answer_after_a_replayed_tool_result(name):
    content = parse_response(body(name)).first.content
    assert content is not None and "Paris" in content and "18" in content


def test_structured_output_is_honoured_by_the_router_and_by_llama_server_only_when_mirrored():
    assert json.loads(parse_response(body("routerjs_structured.json")).first.content or "") == {
        "name": "Paris", "country": "France"}  # fmt: skip
    assert (
        json.loads(parse_response(body("llamacpp_structured_mirrored.json")).first.content or "")[
            "name"
        ]
        == "Paris"
    )
    # llama-server ignores text.format: the recorded answer is prose.
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        json.loads(parse_response(body("llamacpp_structured.json")).first.content or "")


def test_llamacpp_reports_a_truncated_answer_as_completed():
    """What the server says is kept: llama-server never sends status incomplete."""
    completion = parse_response(body("llamacpp_truncated.json"))
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert completion.first.finish_reason == "stop"


def test_incomplete_response_maps_to_length():
    completion = parse_response(body("openai_doc_incomplete.json"))
    assert completion.first.content == "One, two,"
    assert completion.first.finish_reason == "length"
    details = response_details(completion)
    assert details is not None and details.status == "incomplete"
    assert details.incomplete_reason == "max_output_tokens"
    filtered = {
        **body("openai_doc_incomplete.json"),
        "incomplete_details": {"reason": "content_filter"},
    }
    assert parse_response(filtered).first.finish_reason == "content_filter"


def test_reasoning_text_and_summary():
    completion = parse_response(body("routerjs_reasoning.json"))
    assert completion.first.reasoning == "The user wants a greeting."
    assert completion.first.content == "Hello, world!"
    summary_only = {
        "id": "resp_x", "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [
                {"type": "summary_text", "text": "First. "}, {"type": "summary_text", "text": "Then."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
        ],
    }  # fmt: skip
    parsed = parse_response(summary_only)
    assert parsed.first.reasoning == "First. Then."
    details = response_details(parsed)
    assert details is not None and details.reasoning_summary == "First. Then."


def test_remote_mcp_items_are_recorded_not_returned_as_tool_calls():
    completion = parse_response(body("routerjs_mcp_call.json"))
    assert completion.first.tool_calls == ()
    assert completion.first.content == "Paris: 18 C, clear sky"
    details = response_details(completion)
    assert details is not None
    (tool_list,) = details.mcp_tool_lists
    assert tool_list.server_label == "weather-desk"
    assert [tool["name"] for tool in tool_list.tools] == ["lookup_weather"]
    (call,) = details.mcp_calls
    assert call == McpCall(
        id=call.id, server_label="weather-desk", name="lookup_weather",
        arguments='{"city": "Paris"}', output="Paris: 18 C, clear sky",
    )  # fmt: skip
    assert [item["type"] for item in details.output] == ["mcp_list_tools", "mcp_call", "message"]


def test_an_mcp_approval_request_is_surfaced():
    completion = parse_response(body("routerjs_mcp_approval_request.json"))
    details = response_details(completion)
    assert details is not None
    (request,) = details.approval_requests
    assert isinstance(request, McpApprovalRequest)
    assert request.id.startswith("mcpr_") and request.name == "lookup_weather"
    assert completion.first.tool_calls == () and completion.first.content == ""


def test_a_failed_response_sent_with_http_200_raises():
    with pytest.raises(
        HFResponseError, match="failed on the server: 500 image input is not supported"
    ) as caught:
        parse_response(body("routerjs_error_image_text_only_model.json"))
    assert "server_error" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"choices": []}, "no 'output' list"),
        (None, "no 'output' list"),
        (
            body("llamacpp_error_previous_response_id.json"),
            "does not support 'previous_response_id'",
        ),
        ({"id": "r", "status": "queued", "output": []}, "not finished"),
        ({"id": "r", "status": "failed", "output": [], "error": None}, "failed on the server"),
    ],
)
def test_bodies_that_are_not_a_finished_response(raw, fragment):
    with pytest.raises(HFResponseError, match=fragment):
        parse_response(raw)


def test_lenient_reading_of_odd_items():
    completion = parse_response({
        "output": [
            "junk",
            {"type": "message", "content": [{"type": "output_text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
            {"type": "function_call", "name": "f", "arguments": {"x": 1}},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "message", "content": "not a list"},
        ],
    })  # fmt: skip
    choice = completion.first
    assert choice.content == "a" and choice.refusal == "no"
    assert choice.tool_calls[0].id == "call_0" and choice.tool_calls[0].arguments == '{"x": 1}'
    details = response_details(completion)
    assert details is not None and details.output[2]["type"] == "web_search_call"


def test_usage_reading():
    assert parse_responses_usage(None) is None
    assert parse_responses_usage({"input_tokens": 3, "output_tokens": 4}) is not None
    usage = parse_responses_usage({"input_tokens": 3, "output_tokens": 4})
    assert usage is not None and usage.total_tokens == 7 and usage.cached_tokens is None
