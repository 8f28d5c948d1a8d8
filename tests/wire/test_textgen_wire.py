"""Text-generation wire layer: parameters per route, bodies, parsers, stop trimming, FIM prompts."""

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.fim import (
    FIM_FAMILIES,
    build_fim_prompt,
    detect_fim_family,
    fim_stop_sequences,
    resolve_fim_family,
)
from hfbridge.wire.textgen import (
    GenerationParams,
    StopTrimmer,
    build_completions_body,
    build_hf_inference_body,
    build_tgi_body,
    chat_parameters,
    check_supported,
    find_stop,
    parse_completion,
    parse_completion_chunk,
    parse_tgi_response,
    parse_tgi_stream_event,
    trim_at_stop,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textgen"

ALL_PARAMS = {
    "max_new_tokens": 20, "temperature": 0.7, "top_k": 50, "top_p": 0.95,
    "repetition_penalty": 1.1, "seed": 42, "stop": ["\n\n"], "do_sample": True,
    "return_full_text": False, "typical_p": 0.9, "truncate": 1000, "watermark": True,
}  # fmt: skip


def load_json(name):
    return json.loads((FIXTURES / name).read_text())


def sse_events(name):
    """The JSON payloads of a recorded SSE body (what the transport hands out)."""
    lines = (FIXTURES / name).read_text().splitlines()
    return [
        json.loads(line[5:])
        for line in lines
        if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]


# --- parameters --------------------------------------------------------------------------------


def test_known_names_become_fields_and_the_rest_is_extra():
    params = GenerationParams.from_mapping({"top_k": 5, "stop": "END", "min_p": 0.1, "seed": None})
    assert (params.top_k, params.stop, params.seed) == (5, ("END",), None)
    assert params.extra == {"min_p": 0.1}
    assert params.set_names() == ["top_k", "stop"]


def test_stop_sequences_is_read_as_stop_and_duplicates_collapse():
    params = GenerationParams.from_mapping({"stop_sequences": ["a", "b", "a"]})
    assert params.stop == ("a", "b")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": True}, "max_new_tokens"),
        ({"top_k": 2.5}, "top_k"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"typical_p": 2}, "typical_p"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"seed": -1}, "seed"),
        ({"truncate": 0}, "truncate"),
        ({"watermark": "yes"}, "watermark"),
        ({"stop": [""]}, "stop"),
        ({"stop": [1]}, "stop"),
        ({"do_sample": True, "temperature": 0}, "do_sample"),
        ({"stream": True}, "stream"),
        ({"prompt": "x"}, "prompt"),
    ],
)
def test_bad_values_are_refused(values, message):
    with pytest.raises(HFConfigError, match=message):
        GenerationParams.from_mapping(values)


def test_merged_call_values_win_and_extras_merge():
    base = GenerationParams.from_mapping({"temperature": 0.5, "top_k": 3, "min_p": 0.1})
    merged = base.merged({"temperature": 0.9, "mirostat": 2})
    assert (merged.temperature, merged.top_k) == (0.9, 3)
    assert merged.extra == {"min_p": 0.1, "mirostat": 2}
    assert base.temperature == 0.5


@pytest.mark.parametrize(
    ("api", "param", "routes"),
    [
        ("chat", "top_k", "'tgi' / 'hf-inference' / 'completions'"),
        ("chat", "repetition_penalty", "'tgi' / 'hf-inference' / 'completions'"),
        ("completions", "typical_p", "'tgi' / 'hf-inference'"),
        ("completions", "truncate", "'tgi' / 'hf-inference'"),
        ("completions", "watermark", "'tgi' / 'hf-inference'"),
        ("completions", "do_sample", "'tgi' / 'hf-inference'"),
        ("chat", "return_full_text", "'tgi' / 'hf-inference'"),
    ],
)
def test_a_parameter_the_route_cannot_honour_names_the_routes_that_can(api, param, routes):
    params = GenerationParams.from_mapping({param: ALL_PARAMS[param]})
    with pytest.raises(HFConfigError) as info:
        check_supported(api, params)
    assert f"api={api!r} cannot honour {param}" in str(info.value)
    assert routes in str(info.value)


@pytest.mark.parametrize("api", ["tgi", "hf-inference"])
def test_tgi_routes_accept_every_parameter(api):
    check_supported(api, GenerationParams.from_mapping(ALL_PARAMS))


def test_an_unknown_api_is_refused():
    with pytest.raises(HFConfigError, match="api must be one of"):
        check_supported("vllm", GenerationParams())


# --- request bodies ----------------------------------------------------------------------------


def test_tgi_body_carries_every_parameter_and_asks_for_details():
    body = build_tgi_body("Hello", GenerationParams.from_mapping({**ALL_PARAMS, "min_p": 0.05}))
    assert body == {
        "inputs": "Hello",
        "parameters": {**ALL_PARAMS, "min_p": 0.05, "details": True},
    }


def test_tgi_body_sends_temperature_zero_as_greedy_decoding():
    body = build_tgi_body("x", GenerationParams.from_mapping({"temperature": 0, "top_k": 1}))
    assert body["parameters"] == {"top_k": 1, "do_sample": False, "details": True}


def test_hf_inference_body_puts_stream_at_the_root_and_asks_for_the_completion_only():
    body = build_hf_inference_body("Hi", GenerationParams.from_mapping({"seed": 1}), stream=True)
    assert body == {
        "inputs": "Hi",
        "parameters": {"seed": 1, "return_full_text": False},
        "stream": True,
    }
    echo = build_hf_inference_body(
        "Hi", GenerationParams.from_mapping({"return_full_text": True}), stream=False
    )
    assert echo["parameters"] == {"return_full_text": True}
    assert echo["stream"] is False


def test_completions_body_maps_names_and_sends_both_repetition_penalty_spellings():
    params = GenerationParams.from_mapping(
        {"max_new_tokens": 8, "temperature": 0, "top_p": 0.9, "seed": 3, "stop": "\n",
         "top_k": 40, "repetition_penalty": 1.2, "min_p": 0.05}
    )  # fmt: skip
    assert build_completions_body("local", "Q:", params, stream=False) == {
        "model": "local", "prompt": "Q:", "max_tokens": 8, "temperature": 0, "top_k": 40,
        "top_p": 0.9, "repetition_penalty": 1.2, "repeat_penalty": 1.2, "seed": 3, "stop": ["\n"],
        "min_p": 0.05,
    }  # fmt: skip


def test_completions_body_without_model_and_streaming_asks_for_usage():
    body = build_completions_body(None, "Q:", GenerationParams(), stream=True)
    assert body == {"prompt": "Q:", "stream": True, "stream_options": {"include_usage": True}}
    first_key = next(iter(build_completions_body("m", "Q:", GenerationParams(), stream=False)))
    assert first_key == "model"


def test_chat_parameters_use_openai_names():
    params = GenerationParams.from_mapping({"max_new_tokens": 5, "stop": "x", "seed": 2})
    assert chat_parameters(params) == {"max_tokens": 5, "seed": 2, "stop": ["x"]}


# --- answers -----------------------------------------------------------------------------------


def test_tgi_generate_answer_is_an_object_with_details():
    generated = parse_tgi_response(load_json("tgi_generate.json"), {"x-prompt-tokens": "5"})
    assert generated.text == "100% open source."
    assert generated.finish_reason == "length"
    assert generated.usage is not None
    assert (generated.usage.prompt_tokens, generated.usage.completion_tokens) == (5, 12)
    assert generated.usage.total_tokens == 17


def test_hf_inference_answer_is_a_list():
    generated = parse_tgi_response(load_json("hf_inference_text_generation.json"))
    assert generated.text == " 42, said the computer.\n\nThe end."
    assert (generated.finish_reason, generated.usage) == (None, None)


@pytest.mark.parametrize("body", [{}, [], [{"text": "x"}], {"generated_text": 3}, "oops"])
def test_a_body_without_generated_text_is_a_response_error(body):
    with pytest.raises(HFResponseError, match="generated_text"):
        parse_tgi_response(body)


def test_tgi_stream_events_mark_special_tokens_and_carry_the_final_details():
    events = [parse_tgi_stream_event(e) for e in sse_events("tgi_generate_stream.txt")]
    assert "".join(e.text for e in events if not e.special) == "100% open source."
    assert [e.special for e in events] == [False] * 5 + [True]
    assert events[-1].generated_text == "100% open source."
    assert events[-1].details is not None
    assert events[-1].details["finish_reason"] == "eos_token"
    assert all(e.details is None for e in events[:-1])


def test_a_stream_event_without_token_is_a_response_error():
    with pytest.raises(HFResponseError, match="token"):
        parse_tgi_stream_event({"choices": []})


def test_openai_completion_answer():
    generated = parse_completion(load_json("completions.json"))
    assert generated.text == " Paris.\nQ: What is"
    assert generated.finish_reason == "length"
    assert generated.usage is not None
    assert generated.usage.total_tokens == 15


def test_a_completion_without_choices_text_is_a_response_error():
    with pytest.raises(HFResponseError, match="choices"):
        parse_completion({"choices": [{"message": {"content": "x"}}]})


def test_completion_stream_chunks_and_the_usage_only_chunk():
    deltas = [parse_completion_chunk(e) for e in sse_events("completions_stream.txt")]
    assert "".join(d.text for d in deltas) == " Paris."
    assert [d.finish_reason for d in deltas] == [None, None, "stop", None]
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.total_tokens == 10


# --- stop sequences ----------------------------------------------------------------------------


def test_trim_at_stop_cuts_at_the_earliest_stop_sequence():
    assert trim_at_stop("a END b STOP c", ["STOP", "END"]) == "a "
    assert trim_at_stop("nothing here", ["STOP"]) == "nothing here"
    assert trim_at_stop("x\n\ny", "\n\n") == "x"
    assert trim_at_stop("abc", None) == "abc"


def test_the_stop_sequence_that_completes_first_wins():
    # Generation would have ended at "<" (complete at index 2), before "><<" could complete.
    assert trim_at_stop("><<", ["<", "><<"]) == ">"
    # Same end: the longer match is cut.
    assert trim_at_stop("xab", ["b", "ab"]) == "x"
    trimmer = StopTrimmer(["<", "><<"])
    assert trimmer.feed("><") == ">"
    assert trimmer.stopped


def test_trim_at_stop_protects_an_echoed_prompt():
    prompt = "Q: one\n\nA:"
    text = prompt + " two\n\nQ: three"
    assert trim_at_stop(text, ["\n\n"], start=len(prompt)) == "Q: one\n\nA: two"
    assert trim_at_stop(text, ["\n\n"]) == "Q: one"
    assert find_stop(text, ["\n\n"], len(prompt)) == len(prompt) + 4


def test_trimmer_holds_back_a_possible_stop_across_chunks():
    trimmer = StopTrimmer(["<|end|>"])
    assert trimmer.feed("Hello <|") == "Hello "
    assert trimmer.feed("en") == ""
    assert trimmer.feed("d|> never shown") == ""
    assert trimmer.stopped
    assert trimmer.feed("more") == ""
    assert trimmer.flush() == ""


def test_trimmer_releases_a_false_alarm():
    trimmer = StopTrimmer(["STOP"])
    assert trimmer.feed("ST") == ""
    assert trimmer.feed("ART") == "START"
    assert trimmer.feed(" S") == " "
    assert trimmer.flush() == "S"
    assert not trimmer.stopped


def test_trimmer_without_stop_sequences_passes_everything_through():
    trimmer = StopTrimmer([])
    assert [trimmer.feed(x) for x in ("a", "b")] == ["a", "b"]


@given(
    text=st.text(alphabet="ab<|>\n", max_size=40),
    stops=st.lists(st.text(alphabet="ab<|>\n", min_size=1, max_size=4), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
)
def test_streamed_trimming_equals_trimming_the_whole_text(text, stops, cuts):
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    trimmer = StopTrimmer(stops)
    emitted = ""
    expected = trim_at_stop(text, stops)
    for chunk in chunks:
        emitted += trimmer.feed(chunk)
        # Whatever was emitted so far is final: a prefix of the trimmed text, never trimmed text.
        assert expected.startswith(emitted)
    emitted += trimmer.flush()
    assert emitted == expected


# --- fill in the middle ------------------------------------------------------------------------

PREFIX, SUFFIX = "def add(a, b):\n    ", "\n\nprint(add(1, 2))"


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("code-llama", f"<PRE> {PREFIX} <SUF>{SUFFIX} <MID>"),
        ("starcoder", f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"),
        ("santacoder", f"<fim-prefix>{PREFIX}<fim-suffix>{SUFFIX}<fim-middle>"),
        ("codeqwen", f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"),
        ("qwen-coder", f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"),
        (
            "deepseek-coder",
            (
                f"<\uff5cfim\u2581begin\uff5c>{PREFIX}<\uff5cfim\u2581hole\uff5c>{SUFFIX}"
                "<\uff5cfim\u2581end\uff5c>"
            ),
        ),
        ("codestral", f"[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}"),
    ],
)
def test_fim_prompt_per_family(family, expected):
    assert build_fim_prompt(None, PREFIX, SUFFIX, fim_family=family) == expected


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("codellama/CodeLlama-7b-hf", "code-llama"),
        ("meta-llama/CodeLlama-13b-Instruct-hf", "code-llama"),
        ("TheBloke/code-llama-7b-GGUF", "code-llama"),
        ("bigcode/starcoder", "starcoder"),
        ("bigcode/starcoder2-15b", "starcoder"),
        ("bigcode/tiny_starcoder_py", "starcoder"),
        ("bigcode/santacoder", "santacoder"),
        ("Qwen/CodeQwen1.5-7B", "codeqwen"),
        ("Qwen/Qwen2.5-Coder-7B", "qwen-coder"),
        ("qwen2.5-coder-0.5b-instruct", "qwen-coder"),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct:hf-inference", "qwen-coder"),
        ("deepseek-ai/deepseek-coder-6.7b-base", "deepseek-coder"),
        ("deepseek-ai/DeepSeek-Coder-V2-Lite-Base", "deepseek-coder"),
        ("mistralai/Codestral-22B-v0.1", "codestral"),
        ("meta-llama/Llama-3.1-8B-Instruct", None),
        ("Qwen/Qwen2.5-7B-Instruct", None),
        (None, None),
    ],
)
def test_family_detection_from_the_model_id(model_id, family):
    assert detect_fim_family(model_id) == family


def test_an_explicit_family_wins_and_is_case_insensitive():
    assert resolve_fim_family("bigcode/starcoder", "Qwen-Coder").name == "qwen-coder"


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(HFConfigError) as info:
        build_fim_prompt("meta-llama/Llama-3.1-8B-Instruct", "a", "b")
    for name in FIM_FAMILIES:
        assert name in str(info.value)
    with pytest.raises(HFConfigError, match="fim_family 'gpt' is not known"):
        build_fim_prompt(None, "a", "b", fim_family="gpt")


def test_fim_stop_sequences_per_family():
    assert fim_stop_sequences("codellama/CodeLlama-7b-hf") == ("<EOT>",)
    assert fim_stop_sequences("Qwen/Qwen2.5-Coder-7B") == (
        "<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>",
    )  # fmt: skip
    assert fim_stop_sequences(None, "deepseek-coder") == (
        "<\uff5cend\u2581of\u2581sentence\uff5c>", "<|EOT|>",
    )  # fmt: skip
    assert all(len(family.stop) <= 4 for family in FIM_FAMILIES.values())


def test_fim_prefix_and_suffix_must_be_strings():
    with pytest.raises(HFConfigError, match="strings"):
        build_fim_prompt(None, "a", None, fim_family="starcoder")  # type: ignore[arg-type]
