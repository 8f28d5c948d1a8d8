"""LangChain-shaped profiles: from the recorded router catalogue, from self-hosted servers, checked."""

import json
from pathlib import Path

import pytest

from hfbridge.catalog import capabilities, parse_model_spec
from hfbridge.catalog.capability import ModelCapabilities
from hfbridge.catalog.profile import (
    UNKNOWN_SERVER_PROFILE,
    check_profile,
    router_profile,
    server_profile,
    smallest_context,
)
from hfbridge.errors import HFConfigError
from hfbridge.wire.server_info import (
    LlamaCppProps,
    ServerModel,
    TGIInfo,
    parse_llamacpp_props,
    server_model,
)

SERVER_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "server_info"


def profile_of(text, catalog):
    return router_profile(capabilities(parse_model_spec(text), catalog=catalog))


def test_a_vision_model_with_mixed_providers(catalog):
    profile = profile_of("meta-llama/Llama-4-Scout-17B-16E-Instruct", catalog)
    assert profile == {
        "text_inputs": True,
        "text_outputs": True,
        "tool_calling": True,
        "tool_choice": True,
        "tool_call_streaming": True,
        "structured_output": True,  # groq has it; such calls are routed there
        "max_input_tokens": 32768,  # cerebras' window: the router may pick either
        "image_inputs": True,
        "image_url_inputs": True,
    }


def test_a_pinned_provider_answers_for_itself(catalog):
    profile = profile_of("meta-llama/Llama-4-Scout-17B-16E-Instruct:cerebras", catalog)
    assert profile["structured_output"] is False
    assert profile["max_input_tokens"] == 32768
    assert (
        profile_of("meta-llama/Llama-4-Scout-17B-16E-Instruct:groq", catalog)["max_input_tokens"]
        == 131072
    )


def test_a_text_model_without_tools(catalog):
    profile = profile_of("google/gemma-2-2b-it", catalog)
    assert profile["tool_calling"] is False and profile["tool_choice"] is False
    assert "tool_call_streaming" not in profile
    assert profile["image_inputs"] is False and profile["image_url_inputs"] is False
    assert profile["max_input_tokens"] == 8192
    # featherless says nothing about structured output, nebius says no: undecided, so absent.
    assert "structured_output" not in profile


def test_smallest_context_skips_providers_without_one(catalog):
    caps = capabilities(parse_model_spec("deepseek-ai/DeepSeek-V4-Pro"), catalog=catalog)
    assert smallest_context(caps) == 65536
    assert caps.context_length == 1048576  # the catalogue's own answer: the largest


def test_unknown_to_the_catalogue_is_the_conservative_profile(catalog):
    assert profile_of("nobody/no-such-model", catalog) == UNKNOWN_SERVER_PROFILE
    assert router_profile(ModelCapabilities("x/y", note="offline")) == UNKNOWN_SERVER_PROFILE
    assert set(UNKNOWN_SERVER_PROFILE) == {"text_inputs", "text_outputs"}


def test_the_recorded_llama_server_profile():
    models = json.loads((SERVER_FIXTURES / "llamacpp_v1_models.json").read_text())
    props = parse_llamacpp_props(json.loads((SERVER_FIXTURES / "llamacpp_props.json").read_text()))
    profile = server_profile(server_model(models, "qwen2.5-coder-0.5b-instruct"), props)
    assert profile == {
        "text_inputs": True,
        "text_outputs": True,
        "max_input_tokens": 4096,  # -c 4096, not the 32768 the model was trained with
        "image_inputs": False,
        "image_url_inputs": False,
        "tool_calling": True,
        "tool_choice": True,
        "tool_call_streaming": True,
        "structured_output": True,
    }


def test_server_profiles_from_partial_answers():
    vllm = ServerModel(id="m", context_window=32768, owned_by="vllm")
    assert server_profile(vllm) == {**UNKNOWN_SERVER_PROFILE, "max_input_tokens": 32768}
    vision = ServerModel(id="m", input_modalities=("text", "image"))
    assert server_profile(vision)["image_inputs"] is True
    props_only = server_profile(props=LlamaCppProps(vision=True, supports_tools=False))
    assert props_only["image_inputs"] is True and props_only["tool_calling"] is False
    tgi = server_profile(tgi=TGIInfo(max_input_tokens=4095, max_total_tokens=4096))
    assert tgi["max_input_tokens"] == 4095 and tgi["max_output_tokens"] == 1
    assert server_profile() == UNKNOWN_SERVER_PROFILE


@pytest.mark.parametrize(
    ("profile", "fragment"),
    [
        ({"structured_output": "yes"}, "profile\\['structured_output'\\] must be True or False"),
        ({"max_input_tokens": 0}, "a positive integer"),
        ({"max_output_tokens": True}, "a positive integer"),
        ({"max_input_tokens": 8192.0}, "a positive integer"),
        ({"name": 3}, "a string"),
        ({"reasoning_effort_levels": "low"}, "a list of strings"),
        (["tool_calling"], "profile must be a dict"),
    ],
)
def test_a_user_profile_with_a_wrong_type_is_refused(profile, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        check_profile(profile)


def test_a_valid_user_profile_passes_with_unknown_keys():
    given = {"structured_output": True, "max_input_tokens": 8192, "future_key": {"x": 1},
             "reasoning_effort_levels": ["low", "high"]}  # fmt: skip
    assert check_profile(given) == given
