"""HFTextGen against the real local llama-server (Qwen2.5-Coder-0.5B-Instruct, /v1/completions).

llama-server offers OpenAI ``/v1/completions`` (plus its own ``/completion`` and ``/infill``) but
not TGI's ``/generate`` and ``/generate_stream``, and no TGI can be installed here: TGI's wire
format is covered by recorded bodies in the unit tests (``tests/fixtures/textgen``,
``tests/inference/test_textgen_service.py``, ``tests/wire/test_textgen_wire.py``). Assertions are on
structure, never on exact generated text.
"""

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

from hfbridge.langchain import HFTextGen

COUNTING = "Count from one to ten in digits: 1, 2, 3, 4,"


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []
        self.results = []

    def on_llm_new_token(self, token, **_kwargs):
        self.tokens.append(token)

    def on_llm_end(self, response, **_kwargs):
        self.results.append(response)


class AsyncTokens(AsyncCallbackHandler):
    def __init__(self):
        self.tokens = []

    async def on_llm_new_token(self, token, **_kwargs):
        self.tokens.append(token)


@pytest.fixture
def llm(chat_url, chat_model):
    return HFTextGen(model=chat_model, base_url=chat_url, max_new_tokens=12, temperature=0, seed=0)


def test_completion_returns_text_with_usage(llm):
    result = llm.generate([COUNTING])
    generation = result.generations[0][0]
    assert generation.text.strip()
    assert generation.generation_info["api"] == "completions"
    assert generation.generation_info["finish_reason"] in ("stop", "length")
    assert generation.generation_info["token_usage"]["completion_tokens"] > 0
    assert result.llm_output["token_usage"]["prompt_tokens"] > 0


def test_streaming_fires_per_chunk_and_the_chunks_join_to_the_final_text(llm):
    handler = Tokens()
    chunks = list(llm.stream(COUNTING, config={"callbacks": [handler]}))
    assert len(handler.tokens) >= 2
    assert "".join(handler.tokens) == "".join(chunks)
    final = handler.results[0].generations[0][0]
    assert final.text == "".join(chunks)
    assert final.text.strip()
    assert final.generation_info["finish_reason"] in ("stop", "length")


def test_stop_sequence_is_trimmed_in_both_modes(llm):
    generation = llm.generate([COUNTING], stop=["7"], max_new_tokens=16).generations[0][0]
    assert "5" in generation.text
    assert "7" not in generation.text
    assert generation.generation_info["finish_reason"] == "stop"
    handler = Tokens()
    streamed = "".join(llm.stream(COUNTING, stop=["7"], config={"callbacks": [handler]}))
    assert "5" in streamed
    assert "7" not in streamed
    assert all("7" not in token for token in handler.tokens)


def test_llama_cpp_extensions_are_accepted(llm):
    assert llm.invoke(COUNTING, top_k=1, repetition_penalty=1.1, max_new_tokens=8).strip()


def test_batch_keeps_the_order(llm):
    prompts = ["The capital of France is", "def square(x):\n    return", COUNTING]
    results = llm.batch(prompts, max_new_tokens=6)
    assert len(results) == 3
    assert all(isinstance(text, str) and text.strip() for text in results)
    assert results[1] == llm.invoke(prompts[1], max_new_tokens=6)


def test_fim_with_qwen_coder_tokens_fills_the_middle(llm):
    middle = llm.infill("def add(a, b):\n    ", "\n\nprint(add(1, 2))", max_new_tokens=10)
    assert "return" in middle
    assert "<|" not in middle


async def test_async_invoke_stream_and_infill(llm):
    assert (await llm.ainvoke(COUNTING, max_new_tokens=8)).strip()
    handler = AsyncTokens()
    config = {"callbacks": [handler]}
    chunks = [c async for c in llm.astream(COUNTING, config=config, max_new_tokens=8)]
    assert handler.tokens
    assert "".join(handler.tokens) == "".join(chunks)
    middle = await llm.ainfill("def add(a, b):\n    ", "\n\nprint(add(1, 2))", max_new_tokens=10)
    assert "return" in middle
