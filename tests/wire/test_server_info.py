"""Self-hosted server facts: recorded llama-server bodies, vLLM and TGI shapes from their sources."""

import json
from pathlib import Path

import pytest

from hfbridge.errors import HFResponseError
from hfbridge.wire.responses import messages_to_input
from hfbridge.wire.server_info import (
    CHAT_TOKENIZE_PATHS,
    chat_tokenize_body,
    parse_llamacpp_props,
    parse_server_models,
    parse_tgi_info,
    parse_token_count,
    server_model,
    tokenize_body,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "server_info"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def test_llamacpp_models_carry_the_running_context_and_modalities():
    (model,) = parse_server_models(load("llamacpp_v1_models.json"))
    assert model.id == "qwen2.5-coder-0.5b-instruct"
    assert model.context_window == 4096 and model.train_context == 32768
    assert model.input_modalities == ("text",) and model.supports_images is False
    assert model.owned_by == "llamacpp"


def test_llamacpp_props():
    props = parse_llamacpp_props(load("llamacpp_props.json"))
    assert props.context_window == 4096
    assert props.vision is False and props.audio is False
    assert props.supports_tools is True and props.slots == 1
    assert props.model_alias == "qwen2.5-coder-0.5b-instruct"


def test_vllm_models_from_its_protocol():
    # vLLM's ModelCard: id, object, created, owned_by "vllm", root, parent, max_model_len.
    body = {"object": "list", "data": [
        {"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
        {"id": "lora-a", "object": "model", "owned_by": "vllm", "max_model_len": 32768, "parent": "Qwen/Qwen2.5-7B-Instruct"},
    ]}  # fmt: skip
    model = server_model(body, "lora-a")
    assert model is not None and model.context_window == 32768
    assert model.supports_images is None  # vLLM does not say
    assert server_model(body, "other") is None  # two models, none named


def test_tgi_models_and_info_from_its_source():
    # router/src/server.rs openai_get_model_info: one entry, created 0, owned_by the model id.
    models = {
        "object": "list",
        "data": [{"id": "org/m", "object": "model", "created": 0, "owned_by": "org/m"}],
    }
    model = server_model(models, "tgi")
    assert model is not None and model.id == "org/m" and model.context_window is None
    info = parse_tgi_info({"model_id": "org/m", "max_input_tokens": 1024, "max_total_tokens": 2048,
                           "version": "3.3.6", "router": "text-generation-router"})  # fmt: skip
    assert (info.max_input_tokens, info.max_total_tokens, info.version) == (1024, 2048, "3.3.6")
    assert parse_tgi_info({"max_input_length": 1000}).max_input_tokens == 1000


@pytest.mark.parametrize(
    "body",
    [None, [], {"data": "x"}, {"data": [{"object": "model"}, "junk", {"id": ""}]}],
)
def test_lenient_model_lists(body):
    assert parse_server_models(body) == []


def test_wrongly_typed_fields_are_unknown():
    (model,) = parse_server_models({"data": [{"id": "m", "meta": {"n_ctx": "4096", "n_ctx_train": -1},
                                              "architecture": {"input_modalities": "text"}}]})  # fmt: skip
    assert model.context_window is None and model.train_context is None
    assert model.input_modalities == () and model.supports_images is None
    props = parse_llamacpp_props({"modalities": {"vision": "no"}, "total_slots": True})
    assert props.vision is None and props.slots is None


def test_recorded_token_counts():
    assert parse_token_count(load("llamacpp_tokenize.json")) == 9
    assert parse_token_count(load("llamacpp_tokenize_pieces.json")) == 9
    # apply-template + tokenize and /v1/responses/input_tokens agree with the chat route's
    # prompt_tokens for the same conversation (23, recorded; see the README).
    assert parse_token_count(load("llamacpp_tokenize_template.json")) == 23
    assert parse_token_count(load("llamacpp_responses_input_tokens.json")) == 23


def test_vllm_and_tgi_token_counts_from_their_sources():
    assert (
        parse_token_count(
            {"count": 7, "max_model_len": 32768, "tokens": [1] * 7, "token_strs": None}
        )
        == 7
    )
    assert parse_token_count([{"id": 1, "text": "a", "start": 0, "stop": 1}] * 3) == 3
    assert parse_token_count({"tokenize_response": [{"id": 1}] * 4, "templated_text": "x"}) == 4


@pytest.mark.parametrize("body", [{}, {"error": "no tokenizer"}, "12", {"count": -1}])
def test_an_answer_without_a_count(body):
    with pytest.raises(HFResponseError, match="holds no count"):
        parse_token_count(body)


def test_tokenize_bodies():
    assert tokenize_body("llama.cpp", "hi") == {"content": "hi"}
    assert tokenize_body("tgi", "hi") == {"inputs": "hi"}
    assert tokenize_body("vllm", "hi", "m") == {
        "prompt": "hi",
        "add_special_tokens": False,
        "model": "m",
    }


def test_chat_tokenize_bodies():
    messages = [{"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Hello, world!"}]  # fmt: skip
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    llama = chat_tokenize_body(
        "llama.cpp", messages_to_input(messages), "qwen2.5-coder-0.5b-instruct"
    )
    # The body that produced llamacpp_responses_input_tokens.json.
    assert llama == {
        "input": [{"type": "message", **m} for m in messages],
        "model": "qwen2.5-coder-0.5b-instruct",
    }
    assert chat_tokenize_body("vllm", messages, tools=tools) == {
        "messages": messages, "add_generation_prompt": True, "tools": tools}  # fmt: skip
    assert chat_tokenize_body("tgi", messages) == {"messages": messages}
    assert CHAT_TOKENIZE_PATHS == {
        "llama.cpp": "v1/responses/input_tokens",
        "vllm": "tokenize",
        "tgi": "chat_tokenize",
    }
