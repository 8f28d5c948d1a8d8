"""HFTextGen over MockTransport: invoke, stream, batch, async, callbacks, parameters, infill."""

import json
import threading
from pathlib import Path

import httpx
import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.load import dumpd, load

from hfbridge.errors import HFConfigError
from hfbridge.langchain import HFTextGen
from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "textgen"
OPENAI = "http://127.0.0.1:1/v1"
TGI = "http://127.0.0.1:2"
TOKEN = "hf_unit_test_token"


class Server:
    """Answers /v1/completions (JSON or SSE) and TGI /generate; records every request."""

    def __init__(self, text=" Paris.", chunks=(" Par", "is."), barrier=None):
        self.text = text
        self.chunks = chunks
        self.barrier = barrier
        self.requests = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def bodies(self):
        return [json.loads(r.content) for r in self.requests]

    def __call__(self, request):
        with self.lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            return self._answer(request, json.loads(request.content))
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, request, body):
        if request.url.path == "/generate":
            return httpx.Response(200, json={"generated_text": self.text})
        prompt = body["prompt"]
        text = self.text if self.text is not None else f"<{prompt}>"
        if not body.get("stream"):
            usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice], "usage": usage})
        events = [
            {"choices": [{"index": 0, "text": c, "finish_reason": None}]} for c in self.chunks
        ]
        events.append({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        events.append({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2,
                                                "total_tokens": 6}})  # fmt: skip
        content = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)


def llm(server, base_url=OPENAI, **kwargs):
    transport = httpx.MockTransport(server)
    client_kwargs = {"base_url": base_url, "token": TOKEN}
    kwargs.setdefault("model", "local")
    return HFTextGen(
        base_url=base_url,
        client=HFClient(transport=transport, **client_kwargs),
        async_client=AsyncHFClient(transport=transport, **client_kwargs),
        **kwargs,
    )


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []
        self.results = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)

    def on_llm_end(self, response, **kwargs):
        self.results.append(response)


class AsyncTokens(AsyncCallbackHandler):
    def __init__(self):
        self.tokens = []

    async def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


# --- invoke / stream ---------------------------------------------------------------------------


def test_invoke_sends_the_completion_request_and_returns_the_text():
    server = Server()
    assert llm(server).invoke("Capital of France:") == " Paris."
    assert server.bodies == [{"model": "local", "prompt": "Capital of France:", "max_tokens": 512}]
    assert str(server.requests[0].url) == f"{OPENAI}/completions"


def test_stream_calls_on_llm_new_token_once_per_chunk_and_joins_to_the_text():
    server = Server()
    handler = Tokens()
    chunks = list(llm(server).stream("Capital:", config={"callbacks": [handler]}))
    assert handler.tokens == [" Par", "is."]
    assert "".join(chunks) == " Paris."
    generation = handler.results[0].generations[0][0]
    assert generation.text == " Paris."
    assert generation.generation_info["finish_reason"] == "stop"
    assert generation.generation_info["token_usage"]["total_tokens"] == 6


def test_streaming_flag_streams_under_invoke():
    server = Server()
    handler = Tokens()
    text = llm(server, streaming=True).invoke("Capital:", config={"callbacks": [handler]})
    assert (text, handler.tokens) == (" Paris.", [" Par", "is."])
    assert server.bodies[0]["stream"] is True


def test_stream_trims_a_stop_sequence_split_across_chunks():
    server = Server(chunks=("Paris", ".\nQ", ": next"))
    handler = Tokens()
    chunks = list(llm(server, stop=["\nQ:"]).stream("A:", config={"callbacks": [handler]}))
    assert "".join(chunks) == "Paris."
    assert "".join(handler.tokens) == "Paris."
    assert all("Q" not in token for token in handler.tokens)


def test_generate_reports_usage_and_finish_reason():
    result = llm(Server()).generate(["a", "b"])
    assert [g[0].text for g in result.generations] == [" Paris.", " Paris."]
    assert result.generations[0][0].generation_info["finish_reason"] == "stop"
    assert result.llm_output["token_usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 4,
        "total_tokens": 12,
    }


# --- batch -------------------------------------------------------------------------------------


def test_batch_sends_prompts_concurrently_up_to_the_limit_and_keeps_the_order():
    # Two requests must be in flight at once to pass the barrier: a sequential batch would hang
    # until the barrier's timeout and fail.
    server = Server(text=None, barrier=threading.Barrier(2, timeout=10))
    prompts = ["p0", "p1", "p2", "p3"]
    results = llm(server, batch_concurrency=2).batch(prompts)
    assert results == [f"<{p}>" for p in prompts]
    assert server.max_in_flight == 2
    assert sorted(b["prompt"] for b in server.bodies) == prompts


async def test_abatch_keeps_the_order():
    server = Server(text=None)
    assert await llm(server).abatch(["x", "y", "z"]) == ["<x>", "<y>", "<z>"]


# --- async -------------------------------------------------------------------------------------


async def test_ainvoke_and_astream_with_async_callbacks():
    server = Server()
    model = llm(server)
    assert await model.ainvoke("Capital:") == " Paris."
    handler = AsyncTokens()
    chunks = [c async for c in model.astream("Capital:", config={"callbacks": [handler]})]
    assert "".join(chunks) == " Paris."
    assert handler.tokens == [" Par", "is."]


async def test_async_streaming_flag_fires_tokens():
    handler = AsyncTokens()
    text = await llm(Server(), streaming=True).ainvoke("x", config={"callbacks": [handler]})
    assert (text, handler.tokens) == (" Paris.", [" Par", "is."])


# --- parameters --------------------------------------------------------------------------------


def test_every_parameter_reaches_tgi_and_call_values_win():
    server = Server(text="done")
    model = llm(
        server, base_url=TGI, api="tgi", model=None, max_new_tokens=30, temperature=0.7, top_k=40,
        top_p=0.9, repetition_penalty=1.1, seed=7, stop=["###"], do_sample=True,
        return_full_text=False, typical_p=0.95, truncate=2000, watermark=True,
        model_kwargs={"top_n_tokens": 2},
    )  # fmt: skip
    assert model.invoke("Hi", temperature=0.2, stop=["\n\n"], best_of=1) == "done"
    assert server.bodies[0] == {
        "inputs": "Hi",
        "parameters": {
            "max_new_tokens": 30, "temperature": 0.2, "top_k": 40, "top_p": 0.9,
            "repetition_penalty": 1.1, "seed": 7, "stop": ["\n\n"], "do_sample": True,
            "return_full_text": False, "typical_p": 0.95, "truncate": 2000, "watermark": True,
            "top_n_tokens": 2, "best_of": 1, "details": True,
        },
    }  # fmt: skip


def test_max_tokens_alias_and_per_call_max_tokens():
    server = Server()
    model = llm(server, max_tokens=16, top_k=3, repetition_penalty=1.3)
    model.invoke("x", max_tokens=4)
    assert server.bodies[0] == {
        "model": "local", "prompt": "x", "max_tokens": 4, "top_k": 3,
        "repetition_penalty": 1.3, "repeat_penalty": 1.3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"typical_p": 0.5}, "api='completions' cannot honour typical_p"),
        ({"watermark": True}, "api='completions' cannot honour watermark"),
        ({"api": "chat", "model": "org/name", "top_k": 5}, "api='chat' cannot honour top_k"),
        ({"temperature": -1}, "temperature"),
        ({"model_kwargs": {"top_k": 3}}, "model_kwargs may not set"),
        ({"model_kwargs": {"prompt": "x"}}, "prompt"),
        ({"fim_family": "gpt"}, "fim_family"),
        ({"api": "tgi", "base_url": None, "model": "org/name"}, "api='tgi' needs base_url"),
        ({"batch_concurrency": 0}, "batch_concurrency"),
        ({"top_kk": 3}, "unknown argument"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, message):
    server = Server()
    kwargs = dict(kwargs)
    base_url = kwargs.pop("base_url", OPENAI)
    with pytest.raises(HFConfigError, match=message):
        llm(server, base_url=base_url, **kwargs)
    assert server.requests == []


def test_bad_call_parameters_fail_before_any_request():
    server = Server()
    model = llm(server)
    with pytest.raises(HFConfigError, match="typical_p"):
        model.invoke("x", typical_p=0.5)
    with pytest.raises(HFConfigError, match="top_k"):
        list(model.stream("x", top_k=0))
    with pytest.raises(HFConfigError, match="typical_p"):
        model.batch(["a", "b"], typical_p=0.5)
    assert server.requests == []


async def test_bad_async_call_parameters_fail_before_any_request():
    server = Server()
    with pytest.raises(HFConfigError, match="do_sample"):
        await llm(server).ainvoke("x", do_sample=False)
    assert server.requests == []


# --- infill ------------------------------------------------------------------------------------

PREFIX, SUFFIX = "def add(a, b):\n    ", "\n\nprint(add(1, 2))"


def test_infill_builds_the_fim_prompt_and_trims_the_end_token():
    server = Server(text="return a + b<|file_sep|>garbage")
    model = llm(server, model="qwen2.5-coder-0.5b-instruct", stop=["\nclass "])
    assert model.infill(PREFIX, SUFFIX, temperature=0) == "return a + b"
    body = server.bodies[0]
    assert body["prompt"] == f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
    assert body["stop"] == [
        "<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "\nclass ",
    ]  # fmt: skip
    assert body["temperature"] == 0


async def test_ainfill_with_an_explicit_family_for_an_unrecognisable_name():
    server = Server(text="    return a + b")
    model = llm(server, model="my-finetune", fim_family="starcoder")
    assert await model.ainfill("def add(a, b):\n", "", stop=["\ndef "]) == "    return a + b"
    body = server.bodies[0]
    assert body["prompt"] == "<fim_prefix>def add(a, b):\n<fim_suffix><fim_middle>"
    assert body["stop"] == ["<|endoftext|>", "<file_sep>", "\ndef "]


def test_infill_refuses_unknown_families_and_chat_models_before_any_request():
    server = Server()
    with pytest.raises(HFConfigError, match="qwen-coder"):
        llm(server, model="meta-llama/Llama-3.1-8B").infill("a", "b")
    chat = llm(server, base_url=None, model="bigcode/starcoder2-15b", api="chat")
    with pytest.raises(HFConfigError, match="chat template"):
        chat.infill("a", "b")
    assert server.requests == []


# --- LangChain metadata ------------------------------------------------------------------------


def test_identifying_and_langsmith_params():
    model = llm(Server(), temperature=0.3, stop="END")
    assert model._llm_type == "hfbridge-textgen"
    assert model._identifying_params == {
        "model": "local", "base_url": OPENAI, "api": "completions", "max_new_tokens": 512,
        "temperature": 0.3, "stop": ["END"],
    }  # fmt: skip
    ls = model._get_ls_params()
    assert (ls["ls_provider"], ls["ls_model_type"], ls["ls_model_name"]) == (
        "huggingface",
        "llm",
        "local",
    )
    assert (ls["ls_temperature"], ls["ls_max_tokens"], ls["ls_stop"]) == (0.3, 512, ["END"])


def test_serialisation_names_the_token_variable_never_its_value():
    model = HFTextGen(model="local", base_url=OPENAI, token=TOKEN)
    dumped = json.dumps(dumpd(model))
    assert TOKEN not in dumped
    assert "HFBRIDGE_BASE_URL_TOKEN" in dumped  # a self-hosted server's key is not HF_TOKEN
    assert "HF_TOKEN" not in dumped
    routed = json.dumps(dumpd(HFTextGen(model="org/m", token=TOKEN)))
    assert TOKEN not in routed
    assert "HF_TOKEN" in routed


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_dump_and_load_round_trip():
    model = HFTextGen(
        model="Qwen/Qwen2.5-Coder-7B:hf-inference", top_k=3, stop=["END"], fim_family="qwen-coder"
    )
    loaded = load(
        dumpd(model),
        valid_namespaces=["hfbridge"],
        allowed_objects=[HFTextGen],
        secrets_map={"HF_TOKEN": TOKEN},
    )
    assert isinstance(loaded, HFTextGen)
    assert (loaded.model, loaded.top_k, loaded.stop, loaded.fim_family) == (
        "Qwen/Qwen2.5-Coder-7B:hf-inference",
        3,
        ["END"],
        "qwen-coder",
    )
    assert loaded.service.api == "hf-inference"
