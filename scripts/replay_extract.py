#!/usr/bin/env python3
"""Extract the public recordings of the replay corpus from the projects that published them.

Reads the Hugging Face clients' own recordings (their test tapes and cassettes, and TGI's
integration-test snapshots) from local git clones, keeps the chosen exchanges exactly (status,
headers, body), sanitizes them (no cookies, no account identifiers) and writes one file each into
``tests/replay/recordings/`` with its provenance and the oracle's reading (``expect``).

Usage (each argument is a git directory; any clone of the repository will do)::

    python3 scripts/replay_extract.py --hub <huggingface_hub> --js <huggingface.js> --tgi <tgi>

Nothing of those projects but the recorded exchanges is copied. The selection below says why each
exchange is in the corpus; ``tests/replay/README.md`` lists them by provider and kind.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import replay_corpus as corpus  # scripts/ is on the path of a script run from it

HUB_REPO = "huggingface/huggingface_hub"
HUB_COMMIT = "34bb25d9d8bf5b433fe0d87516c36e98e5d548de"  # parent of a8e321429, which removed them
JS_REPO = "huggingface/huggingface.js"
JS_COMMIT = "cd261f48b3d343e21b834067a2fd94b0ebc3c014"  # parent of b5bb4f452, which removed them
JS_TAPES = "packages/inference/test/tapes.json"
TGI_REPO = "huggingface/text-generation-inference"
TGI_OLD = "a6b02da97166a3c76f6ff5075b10ff25bd41bde1"  # 2.4.0 release (snapshots of TGI 2.0.1)
TGI_NEW = "db931fcf42da018a3657580c64bf2720f167f9ab"
TGI_SNAPSHOTS = "integration-tests/models/__snapshots__"


def _cassette(name: str) -> str:
    return f"tests/cassettes/{name}.yaml"


def _chat_pair(provider: str, why_json: str, why_stream: str) -> list[dict[str, Any]]:
    base = f"TestInferenceClient.test_chat_completion_{{}}[{provider},conversational]"
    return [
        {"name": f"{provider}_chat", "provider": provider, "kind": "chat", "why": why_json,
         "hub": (_cassette(base.format("no_stream")), 1)},
        {"name": f"{provider}_chat_stream", "provider": provider, "kind": "chat-stream",
         "why": why_stream, "hub": (_cassette(base.format("with_stream")), 1)},
    ]  # fmt: skip


SELECTION: list[dict[str, Any]] = [
    # --- router, provider-scoped chat (huggingface_hub cassettes, March 2025) ---
    *_chat_pair(
        "cerebras",
        "plain completion with time_info",
        "ends at EOF right after the finish chunk (with usage and time_info): no [DONE]",
    ),
    *_chat_pair("fireworks-ai", "usage with details", "usage on the finish chunk, [DONE]"),
    *_chat_pair(
        "hf-inference", "TGI 3.x behind the router", "TGI 3.x chat stream, role on every delta"
    ),
    *_chat_pair(
        "hyperbolic",
        "vLLM-style body",
        "cumulative usage on every chunk, stop_reason beside finish_reason",
    ),
    *_chat_pair("nebius", "vLLM-style body", "stop_reason on the finish chunk"),
    *_chat_pair(
        "novita",
        "content_filter_results",
        "content_filter_results and cumulative usage on every chunk",
    ),
    *_chat_pair("sambanova", "plain completion", "role on several deltas"),
    *_chat_pair(
        "together",
        "seed and prompt fields",
        "text beside delta, token_id and tool_calls: null in every delta",
    ),
    {"name": "hf-inference_chat_non_tgi", "provider": "hf-inference", "kind": "chat",
     "why": "a transformers (non-TGI) model behind the chat route",
     "hub": (_cassette("TestInferenceClient.test_chat_completion_with_non_tgi"), 1)},
    {"name": "hf-inference_chat_401", "provider": "hf-inference", "kind": "chat",
     "why": "401 with X-Error-Message and WWW-Authenticate (an invalid token)",
     "hub": (_cassette("TestInferenceClient.test_chat_completion_unprocessable_entity"), 1)},
    {"name": "hf-inference_chat_stream_llama31", "provider": "hf-inference",
     "kind": "chat-stream", "why": "TGI stream ending with [DONE] after the finish chunk",
     "hub": (_cassette("test_openai_compatibility_with_stream_true"), 2)},
    # --- hf-inference text generation (TGI behind the router) ---
    {"name": "hf-inference_generate_details", "provider": "hf-inference", "kind": "generate",
     "why": "a list around the object; details with prefill and tokens",
     "hub": (_cassette("TestTextGenerationClientVCR.test_generate_with_details"), 1)},
    {"name": "hf-inference_generate_best_of", "provider": "hf-inference", "kind": "generate",
     "why": "best_of_sequences in details",
     "hub": (_cassette("TestTextGenerationClientVCR.test_generate_best_of"), 1)},
    {"name": "hf-inference_generate_stream_details", "provider": "hf-inference",
     "kind": "generate-stream", "why": "one token event carrying generated_text and details",
     "hub": (_cassette("TestTextGenerationClientVCR.test_generate_stream_with_details"), 1)},
    {"name": "hf-inference_generate_422", "provider": "hf-inference", "kind": "generate",
     "why": "TGI validation error (error_type: validation)",
     "hub": (_cassette("TestTextGenerationClientVCR.test_generate_validation_error"), 1)},
    {"name": "hf-inference_generate_400_model_kwargs", "provider": "hf-inference",
     "kind": "generate",
     "why": "a transformers pipeline refusing TGI parameters (error + warnings)",
     "hub": (_cassette("TestTextGenerationClientVCR.test_generate_non_tgi_endpoint"), 1)},
    {"name": "hf-inference_embeddings_bart", "provider": "hf-inference",
     "kind": "embeddings-feature", "why": "token-level vectors of a model without pooling",
     "hub": (_cassette("TestInferenceClient.test_feature_extraction_with_sentence_transformers"
                       "[hf-inference,feature-extraction]"), 1)},
    # --- huggingface.js tapes (providers called directly, and the router, 2024-2025) ---
    {"name": "hf-inference_tgi2_chat_stream", "provider": "hf-inference", "kind": "chat-stream",
     "model": "mistralai/Mistral-7B-Instruct-v0.2",
     "why": "TGI 2.0: object text_completion, finish_reason eos_token with '</s>' as text, "
            "ends at EOF without [DONE]",
     "js": "e1218ba647f9fc29e3f8579d28b4718b127699a498b449a4ab4f7cab1187aa73"},
    {"name": "hf-inference_chat_422_template", "provider": "hf-inference", "kind": "chat-stream",
     "model": "google/gemma-2b",
     "why": "422 JSON (error_type template_error) answered to a stream request",
     "js": "3bc1c8fa82b66f19e765b705851e809ddd922e8be790fa71bdeb130813ec1d9b"},
    {"name": "hf-inference_chat_422_plain", "provider": "hf-inference", "kind": "chat-stream",
     "model": "google/gemma-2b",
     "why": "422 text/plain (axum deserialization) answered to a stream request",
     "js": "2e0134943b323aef66526c21e25d45857f62a28a9fbd5d96f4b909bb9dc06b19"},
    {"name": "hf-inference_404", "provider": "hf-inference", "kind": "generate",
     "model": "this-model-does-not-exist-123", "why": "404 for an unknown model",
     "js": "b0164e2ea675bb23b819db63fa15801017eb17722d5ed6662addf51b572cfd3f"},
    {"name": "hf-inference_generate_stream_error_event", "provider": "hf-inference",
     "kind": "generate-stream", "model": "OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5",
     "why": "HTTP 200 whose only event is a validation error ('data:' without a space)",
     "js": "e9fc55386e8e5146072ba6967963ec8973ae0b0b566c769ec4056957d5a2416d"},
    {"name": "hf-inference_generate_stream_llama2", "provider": "hf-inference",
     "kind": "generate-stream", "model": "meta-llama/Llama-2-7b-hf",
     "why": "52 token events, special '</s>' last, prompt echoed in generated_text",
     "js": "2cc5a8d9d908313353f52ec6f46e58f19018131e44fc571542848170606d7bf5"},
    {"name": "hf-inference_generate_stream_flan", "provider": "hf-inference",
     "kind": "generate-stream", "model": "google/flan-t5-xxl",
     "why": "token events without index", "js":
     "3694ddcced223eadefa057b24fdff06b3e19e6ff24bfd546513f5b70c056bea2"},
    {"name": "openai_chat", "provider": "openai", "kind": "chat", "model": "gpt-3.5-turbo",
     "why": "refusal: null, *_tokens_details, openai-organization header (masked)",
     "js": "ad463aeaa0a4222600cd3fe0ad34ec1bbee5f4fa9a12beeb40fac29922c7e6a5"},
    {"name": "openai_chat_stream", "provider": "openai", "kind": "chat-stream",
     "model": "gpt-3.5-turbo", "why": "refusal: null in the first delta, service_tier",
     "js": "d75f3431ab05ade6db8e9807ca058a380a8d323f4b7af262867f81a148381104"},
    {"name": "openai_chat_400", "provider": "openai", "kind": "chat-stream",
     "model": "gpt-3.5-turbo", "why": "OpenAI error object (param/code null)",
     "js": "a5c77198e4875c396a6656a0454ea422c4df8c5336b24366590b16e8bee7c877"},
    {"name": "mistral_chat_stream", "provider": "mistral", "kind": "chat-stream",
     "model": "mistralai/Mistral-7B-Instruct-v0.2", "why": "usage on the finish chunk",
     "js": "494ac643acd05c23daf33d5421b9468ffad1e90529d00573a753ebefa7b6b3f9"},
    {"name": "mistral_chat_401", "provider": "mistral", "kind": "chat-stream",
     "model": "mistralai/Mistral-7B-Instruct-v0.2",
     "why": "401 as {message, request_id} (no error key)",
     "js": "e01b3c04b2dff3cbc922b7b591b7afe371d95923a55554764a81a7f336d714d1"},
    {"name": "cohere_chat", "provider": "cohere", "kind": "chat",
     "model": "CohereLabs/c4ai-command-r7b-12-2024", "why": "cohere compatibility API",
     "js": "8c6ffbc794573c463ed5666e3b560e5966cd975c2893c901c18adb696ba54a6a"},
    {"name": "cohere_chat_stream", "provider": "cohere", "kind": "chat-stream",
     "model": "CohereLabs/c4ai-command-r7b-12-2024", "why": "empty delta on the finish chunk",
     "js": "cb34d07934bd210fd64da207415c49fc6e2870d3564164a2a5d541f713227fbf"},
    {"name": "fireworks-ai_deepseek_r1_stream", "provider": "fireworks-ai",
     "kind": "chat-stream", "model": "deepseek-ai/DeepSeek-R1", "think": True,
     "why": "reasoning inline as <think>...</think> in content, 434 chunks",
     "js": "ae9e1189990778e9636d43188360500025b048537f5b41562185e0b3c61173b0"},
    {"name": "novita_deepseek_r1_distill_stream", "provider": "novita", "kind": "chat-stream",
     "model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "think": True,
     "why": "<think> as its own delta, content_filter_results on every chunk",
     "js": "ea389e0d5c0cc9ec913b132547cefd03f3c9fce6715b0a8c9a429c65c2a8622b"},
    {"name": "together_chat_stream_eos", "provider": "together", "kind": "chat-stream",
     "model": "meta-llama/Llama-3.3-70B-Instruct",
     "why": "finish_reason 'eos', a seed too large for a float64 integer",
     "js": "d5c6752ccee8b53c65bbdbcc128358f9c6604395431b7c33760f3c0c92224ff1"},
    {"name": "hyperbolic_chat_422_detail", "provider": "hyperbolic", "kind": "chat",
     "model": "meta-llama/Llama-3.1-405B-Instruct",
     "why": "FastAPI validation error: {detail: [{type, loc, msg, input}]}",
     "js": "63ed3f76e28a4f6d6aece430a994d249b13f883ab2cbcf0ff13acb7005b7625d",
     "message": ["body.messages: Field required"]},
    {"name": "hyperbolic_chat_400_object_error", "provider": "hyperbolic", "kind": "chat",
     "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
     "why": "vLLM-style {object: error, message, type, param, code: 40301}",
     "js": "340a2a0cae0688dfb5b0cf1d5cac1004fbf9c411ac28e420b7d098a1a1a33437"},
    {"name": "together_completions", "provider": "together", "kind": "completions",
     "model": "mistralai/Mixtral-8x7B-v0.1",
     "why": "object text.completion, a seed beyond 2**53, gzip-encoded on the wire",
     "js": "94570e88ad7c60f92805909dfb0fabe03255aaf65cee18cf7f92fc54fc42fc0e"},
    {"name": "sambanova_embeddings", "provider": "sambanova", "kind": "embeddings-openai",
     "model": "intfloat/e5-mistral-7b-instruct", "why": "OpenAI embeddings, 4096 dimensions",
     "js": "3e681e3a8e137d42a12576d16b1065e14cb176d0a624286bbebf90f079bbcb23"},
    # --- TGI integration-test snapshots (reconstructed: JSON kept, framing ours) ---
    {"name": "tgi2_chat_tools", "provider": "tgi", "kind": "chat",
     "model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
     "why": "TGI 2.0.1 tool call: integer id, arguments as an object, finish_reason eos_token",
     "tgi": (TGI_OLD, "test_tools_llama/test_flash_llama_grammar_tools.json")},
    {"name": "tgi3_chat_tools_stream", "provider": "tgi", "kind": "chat-stream",
     "model": "meta-llama/Llama-3.1-8B-Instruct",
     "why": "TGI 3.1 streamed tool call: id and name repeated, content null",
     "tgi": (TGI_NEW, "test_tools_llama/test_flash_llama_grammar_tools_choice_stream.json")},
    {"name": "tgi3_chat_stream_usage", "provider": "tgi", "kind": "chat-stream",
     "model": "meta-llama/Llama-3.1-8B-Instruct",
     "why": "usage in a last chunk with choices: [] after the finish chunk",
     "tgi": (TGI_NEW, "test_completion_prompts/test_chat_hfhub_usage.json")},
]  # fmt: skip


def git_show(git_dir: Path, commit: str, path: str) -> str:
    """The text of ``path`` at ``commit`` in the git directory ``git_dir``."""
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def _from_hub(git_dir: Path, item: dict[str, Any], yaml: Any) -> dict[str, Any]:
    path, index = item["hub"]
    cassette = yaml.safe_load(git_show(git_dir, HUB_COMMIT, path))
    interactions = cassette["interactions"]
    exchange = interactions[index]
    model = item.get("model")
    if model is None:  # the first interaction asks the Hub for the model's provider mapping
        model = interactions[0]["request"]["uri"].split("/api/models/")[1].split("?")[0]
    request, response = exchange["request"], exchange["response"]
    headers = [(name, value) for name, values in response["headers"].items() for value in values]
    return {
        "model": model,
        "source": {"repository": HUB_REPO, "commit": HUB_COMMIT, "path": path,
                   "entry": f"interactions[{index}]", "exact": True},
        "request": {"method": request["method"], "url": request["uri"],
                    "body": request["body"] or ""},
        "response": {"status": response["status"]["code"], "headers": headers,
                     "body": response["body"]["string"]},
    }  # fmt: skip


def _from_js(tapes: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    tape = tapes[item["js"]]
    init = tape.get("init") or {}
    response = tape["response"]
    return {
        "model": item["model"],
        "source": {"repository": JS_REPO, "commit": JS_COMMIT, "path": JS_TAPES,
                   "entry": item["js"], "exact": True},
        "request": {"method": init.get("method", "GET"), "url": tape["url"],
                    "body": init.get("body") or ""},
        "response": {"status": response["status"],
                     "headers": list((response.get("headers") or {}).items()),
                     "body": response["body"]},
    }  # fmt: skip


def _sse(events: list[Any]) -> str:
    return "".join(f"data: {json.dumps(event, separators=(',', ':'))}\n\n" for event in events)


def _from_tgi(git_dir: Path, item: dict[str, Any]) -> dict[str, Any]:
    commit, name = item["tgi"]
    path = f"{TGI_SNAPSHOTS}/{name}"
    snapshot = json.loads(git_show(git_dir, commit, path))
    stream = item["kind"] == "chat-stream"
    body = _sse([*snapshot, "[DONE]"]) if stream else json.dumps(snapshot, separators=(",", ":"))
    if stream:  # "[DONE]" is the marker, not a JSON string
        body = body.replace('data: "[DONE]"', "data: [DONE]")
    content_type = "text/event-stream" if stream else "application/json"
    return {
        "model": item["model"],
        "source": {
            "repository": TGI_REPO, "commit": commit, "path": path, "entry": "snapshot",
            "exact": False,
            "note": "a syrupy snapshot of the answer as TGI's test client parsed it: the JSON "
                    "values are TGI's, the serialization (and for streams the SSE framing and "
                    "[DONE]) is ours",
        },
        "request": {"method": "POST", "url": "http://tgi/v1/chat/completions", "body": ""},
        "response": {"status": 200, "headers": [["content-type", content_type]], "body": body},
    }  # fmt: skip


def extract(hub: Path, js: Path, tgi: Path, out: Path) -> list[Path]:
    """Write every selected recording into ``out``; return the paths written."""
    import yaml

    tapes = json.loads(git_show(js, JS_COMMIT, JS_TAPES))
    written = []
    for item in SELECTION:
        if "hub" in item:
            parts = _from_hub(hub, item, yaml)
        elif "js" in item:
            parts = _from_js(tapes, item)
        else:
            parts = _from_tgi(tgi, item)
        recording = {
            "name": item["name"], "provider": item["provider"], "kind": item["kind"],
            "model": parts.pop("model"), "why": item["why"], **parts,
        }  # fmt: skip
        recording = corpus.sanitize_recording(recording)
        expect = corpus.expect_for(recording, think=item.get("think", False))
        if item.get("message") and "error" in expect:
            expect["error"]["message"] = item["message"]
        if item.get("think"):
            expect["think"] = True
        recording["expect"] = expect
        written.append(corpus.write_recording(recording, out))
    return written


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", type=Path, required=True, help="git dir of huggingface_hub")
    parser.add_argument("--js", type=Path, required=True, help="git dir of huggingface.js")
    parser.add_argument("--tgi", type=Path, required=True, help="git dir of TGI")
    parser.add_argument("--out", type=Path, default=None, help="corpus directory")
    args = parser.parse_args()
    out = args.out or corpus.CORPUS_DIR
    for path in extract(args.hub, args.js, args.tgi, out):
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


if __name__ == "__main__":
    main()
