"""EmbeddingService over MockTransport: routes, bodies, batching, ordering, 413 splits, failures."""

import asyncio
import base64
import json
import struct
import threading
import time

import httpx
import pytest

from hfbridge._constants import EMBED_BATCH_SIZE, EMBED_CONCURRENCY, EMBED_MAX_BATCH_BYTES
from hfbridge.errors import (
    HFAuthenticationError,
    HFBatchError,
    HFConfigError,
    HFPayloadTooLargeError,
    HFResponseError,
    HFServerError,
)
from hfbridge.inference.embeddings import EmbeddingService, select_route
from hfbridge.transport import AsyncHFClient, HFClient

HF_URL = "https://router.huggingface.co/hf-inference/models/{}/pipeline/feature-extraction"
DEFAULT_MODEL = "sentence-transformers/all-mpnet-base-v2"
BASE = "http://127.0.0.1:9/v1"
MODES = ["sync", "async"]


def vec(text):
    """A vector that identifies its text, so a result can be checked position by position."""
    return [float(len(text)), float(sum(map(ord, text)) % 9973), 1.0]


def texts_of(request):
    body = json.loads(request.content)
    inputs = body["inputs"] if "inputs" in body else body["input"]
    return [inputs] if isinstance(inputs, str) else inputs


def fe_answer(texts, single):
    return vec(texts[0]) if single else [vec(t) for t in texts]


class Server:
    """A feature-extraction or OpenAI server: records requests, can delay, fail or refuse."""

    def __init__(self, *, openai=False, delay=None, fail=None):
        self.openai = openai
        self.delay = delay or (lambda _texts: 0.0)
        self.fail = fail or (lambda _texts: None)
        self.requests = []
        self.completed = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def answer(self, request):
        texts = texts_of(request)
        failure = self.fail(texts)
        if failure is not None:
            return failure
        if self.openai:
            data = [
                {"object": "embedding", "index": i, "embedding": vec(t)}
                for i, t in enumerate(texts)
            ]
            return httpx.Response(200, json={"object": "list", "data": data, "model": "m"})
        single = isinstance(json.loads(request.content)["inputs"], str)
        return httpx.Response(200, json=fe_answer(texts, single))

    def _enter(self, request):
        with self.lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self, request):
        with self.lock:
            self.in_flight -= 1
            self.completed.append(texts_of(request))

    def __call__(self, request):
        self._enter(request)
        try:
            time.sleep(self.delay(texts_of(request)))
            return self.answer(request)
        finally:
            self._leave(request)

    async def handle_async(self, request):
        self._enter(request)
        try:
            await asyncio.sleep(self.delay(texts_of(request)))
            return self.answer(request)
        finally:
            self._leave(request)

    def bodies(self):
        return [json.loads(r.content) for r in self.requests]


def fail_if_called(request):
    pytest.fail(f"no request expected, got {request.method} {request.url}")


def make(server, *, max_retries=0, base_url=None, **kwargs):
    sync_handler = server
    async_handler = server.handle_async if isinstance(server, Server) else server

    async def no_sleep(_seconds):
        return None

    client = HFClient(
        base_url=base_url,
        transport=httpx.MockTransport(sync_handler),
        max_retries=max_retries,
        sleep=lambda _s: None,
    )
    async_client = AsyncHFClient(
        base_url=base_url,
        transport=httpx.MockTransport(async_handler),
        max_retries=max_retries,
        sleep=no_sleep,
    )
    return EmbeddingService(base_url=base_url, client=client, async_client=async_client, **kwargs)


async def embed(service, mode, texts):
    if mode == "sync":
        return service.embed_documents(texts)
    return await service.aembed_documents(texts)


async def embed_query(service, mode, text):
    if mode == "sync":
        return service.embed_query(text)
    return await service.aembed_query(text)


TEXTS = [f"text number {i}" for i in range(10)]


# --- ordering and concurrency ---


@pytest.mark.parametrize("mode", MODES)
async def test_results_keep_input_order_when_batches_finish_out_of_order(mode):
    # the first batches are the slowest, so they complete last
    server = Server(delay=lambda texts: 0.02 * (10 - int(texts[0].split()[-1])) / 2)
    service = make(server, batch_size=2, max_concurrency=3)
    result = await embed(service, mode, TEXTS)
    assert result == [vec(t) for t in TEXTS]
    sent_order = [texts_of(r)[0] for r in server.requests]
    completed_order = [texts[0] for texts in server.completed]
    assert completed_order != sent_order  # the test did exercise out-of-order completion
    # bounded, and actually concurrent (threads may start a little apart; tasks do not)
    assert server.max_in_flight == 3 if mode == "async" else 2 <= server.max_in_flight <= 3
    assert sorted(len(texts_of(r)) for r in server.requests) == [2] * 5


async def test_sync_api_works_inside_a_running_event_loop():
    server = Server(delay=lambda _texts: 0.005)
    service = make(server, batch_size=3, max_concurrency=2)
    asyncio.get_running_loop()  # we are inside one
    assert service.embed_documents(TEXTS) == [vec(t) for t in TEXTS]
    assert service.embed_query("q") == vec("q")


async def test_async_concurrency_is_bounded_per_service_across_calls():
    server = Server(delay=lambda _texts: 0.01)
    service = make(server, batch_size=1, max_concurrency=2)
    first, second = await asyncio.gather(
        service.aembed_documents(TEXTS[:5]), service.aembed_documents(TEXTS[5:])
    )
    assert first + second == [vec(t) for t in TEXTS]
    assert server.max_in_flight == 2


@pytest.mark.parametrize("mode", MODES)
async def test_max_concurrency_one_sends_batches_one_at_a_time(mode):
    server = Server(delay=lambda _texts: 0.002)
    result = await embed(make(server, batch_size=2, max_concurrency=1), mode, TEXTS)
    assert result == [vec(t) for t in TEXTS]
    assert server.max_in_flight == 1
    assert [texts_of(r) for r in server.requests] == [TEXTS[i : i + 2] for i in range(0, 10, 2)]


# --- empty input, empty strings, single strings ---


@pytest.mark.parametrize("mode", MODES)
async def test_empty_list_returns_empty_without_a_request(mode):
    assert await embed(make(fail_if_called), mode, []) == []


@pytest.mark.parametrize("mode", MODES)
async def test_empty_strings_are_sent(mode):
    server = Server()
    assert await embed(make(server), mode, ["", "a", ""]) == [vec(""), vec("a"), vec("")]
    assert server.bodies() == [{"inputs": ["", "a", ""]}]
    assert await embed(make(server), mode, [""]) == [vec("")]
    assert server.bodies()[-1] == {"inputs": ""}


@pytest.mark.parametrize("mode", MODES)
async def test_a_single_text_goes_as_a_string_and_a_flat_answer_is_read(mode):
    server = Server()
    assert await embed_query(make(server), mode, "hello") == vec("hello")
    assert server.bodies() == [{"inputs": "hello"}]


@pytest.mark.parametrize("mode", MODES)
async def test_token_level_answers_are_mean_pooled(mode):
    def handler(request):
        texts = texts_of(request)
        # token vectors per text: mean is (len, 1.0) before normalisation
        return httpx.Response(200, json=[[[2.0 * len(t), 0.0], [0.0, 2.0]] for t in texts])

    result = await embed(make(handler, normalize=False), mode, ["ab", "abcd"])
    assert result == [pytest.approx([2.0, 1.0]), pytest.approx([4.0, 1.0])]
    normalised = await embed(make(handler), mode, ["ab", "abcd"])
    assert normalised[0] == pytest.approx([2 / 5**0.5, 1 / 5**0.5])


@pytest.mark.parametrize("mode", MODES)
async def test_a_single_string_token_answer_is_pooled(mode):
    def handler(request):
        return httpx.Response(200, json=[[1.0, 0.0], [3.0, 0.0]])  # 2 tokens x 2 dims

    assert await embed_query(make(handler, normalize=False), mode, "x") == pytest.approx([2.0, 0.0])


# --- request bodies per route ---


async def test_hf_inference_route_url_and_body_parameters_at_the_root():
    server = Server()
    service = make(
        server,
        model="BAAI/bge-m3",
        normalize=True,
        truncate=True,
        truncation_direction="left",
        prompt_name="query",
    )
    service.embed_documents(["a", "b"])
    (request,) = server.requests
    assert str(request.url) == HF_URL.format("BAAI/bge-m3")
    assert json.loads(request.content) == {
        "inputs": ["a", "b"],
        "normalize": True,
        "truncate": True,
        "truncation_direction": "left",
        "prompt_name": "query",
    }


async def test_default_alias_and_hf_inference_pin_use_hf_inference():
    assert make(Server()).route.url == HF_URL.format(DEFAULT_MODEL)
    pinned = make(Server(), model="BAAI/bge-m3:hf-inference")
    assert (pinned.route.kind, pinned.route.provider) == ("hf-inference", "hf-inference")
    assert make(Server(), model="small").model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert make(Server(), model="large").model_id == "sentence-transformers/sentence-t5-large"


@pytest.mark.parametrize("mode", MODES)
async def test_openai_base_url_body_has_model_input_and_dimensions(mode):
    server = Server(openai=True)
    service = make(server, base_url=BASE, model="local-embedder", dimensions=3)
    assert await embed(service, mode, ["a", "b"]) == [vec("a"), vec("b")]
    (request,) = server.requests
    assert str(request.url) == f"{BASE}/embeddings"
    assert json.loads(request.content) == {
        "model": "local-embedder",
        "input": ["a", "b"],
        "dimensions": 3,
    }


@pytest.mark.parametrize(
    ("model", "provider_model_id", "url", "wire_model"),
    [
        (
            "BAAI/bge-m3:together",
            None,
            "https://router.huggingface.co/together/v1/embeddings",
            "BAAI/bge-m3",
        ),
        (
            "Qwen/Qwen3-Embedding-8B:scaleway",
            "qwen3-embedding-8b",
            "https://router.huggingface.co/scaleway/v1/embeddings",
            "qwen3-embedding-8b",
        ),
        (
            "BAAI/bge-m3:deepinfra",
            None,
            "https://router.huggingface.co/deepinfra/v1/openai/embeddings",
            "BAAI/bge-m3",
        ),
    ],
)
async def test_provider_routes(model, provider_model_id, url, wire_model):
    server = Server(openai=True)
    service = make(
        server, model=model, provider_model_id=provider_model_id, encoding_format="float"
    )
    service.embed_documents(["x"])
    (request,) = server.requests
    assert str(request.url) == url
    assert json.loads(request.content) == {
        "model": wire_model,
        "input": ["x"],
        "encoding_format": "float",
    }


async def test_custom_feature_extraction_posts_to_the_url_as_given():
    server = Server()
    service = make(
        server,
        base_url="http://127.0.0.1:9/embed",
        api="feature-extraction",
        normalize=False,
        dimensions=2,
    )
    service.embed_documents(["a", "b"])
    (request,) = server.requests
    assert str(request.url) == "http://127.0.0.1:9/embed"
    assert json.loads(request.content) == {
        "inputs": ["a", "b"],
        "normalize": False,
        "dimensions": 2,
    }


@pytest.mark.parametrize("mode", MODES)
async def test_openai_index_reorders_within_a_batch(mode):
    def handler(request):
        texts = texts_of(request)
        data = [{"index": i, "embedding": vec(t)} for i, t in enumerate(texts)][::-1]
        return httpx.Response(200, json={"data": data})

    texts = ["one", "two", "three"]
    assert await embed(make(handler, base_url=BASE), mode, texts) == [vec(t) for t in texts]


async def test_base64_answers_are_decoded():
    def handler(request):
        data = [
            {"index": i, "embedding": base64.b64encode(struct.pack("<2f", len(t), 0.5)).decode()}
            for i, t in enumerate(texts_of(request))
        ]
        return httpx.Response(200, json={"data": data})

    service = make(handler, base_url=BASE, encoding_format="base64")
    assert service.embed_documents(["ab", "abc"]) == [[2.0, 0.5], [3.0, 0.5]]


# --- instructions ---


@pytest.mark.parametrize("mode", MODES)
async def test_e5_instructions_are_prepended(mode):
    server = Server(openai=True)
    service = make(server, base_url=BASE, model="intfloat/multilingual-e5-small")
    await embed(service, mode, ["doc a", "doc b"])
    await embed_query(service, mode, "what?")
    assert [b["input"] for b in server.bodies()] == [
        ["passage: doc a", "passage: doc b"],
        ["query: what?"],
    ]


async def test_user_instructions_override_and_empty_turns_them_off():
    server = Server()
    service = make(
        server, model="BAAI/bge-small-en-v1.5", query_instruction="Q: ", document_instruction=""
    )
    service.embed_documents(["d"])
    service.embed_query("q")
    assert [b["inputs"] for b in server.bodies()] == ["d", "Q: q"]
    bge = make(Server(), model="BAAI/bge-small-en-v1.5")
    assert bge.query_instruction.startswith("Represent this sentence")
    assert bge.document_instruction == ""


async def test_prompt_name_leaves_prompts_to_the_server():
    service = make(Server(), model="intfloat/e5-base-v2", prompt_name="query")
    assert (service.query_instruction, service.document_instruction) == ("", "")


# --- batching by count and bytes ---


async def test_defaults_come_from_constants():
    service = make(Server())
    assert (service.batch_size, service.max_batch_bytes, service.max_concurrency) == (
        EMBED_BATCH_SIZE,
        EMBED_MAX_BATCH_BYTES,
        EMBED_CONCURRENCY,
    )


@pytest.mark.parametrize("mode", MODES)
async def test_batches_are_split_by_bytes(mode):
    server = Server()
    texts = [f"{i:02d}" + "x" * 48 for i in range(12)]  # 52 bytes each in JSON
    limit = 200
    service = make(server, batch_size=100, max_batch_bytes=limit, max_concurrency=2)
    assert await embed(service, mode, texts) == [vec(t) for t in texts]
    assert all(len(r.content) <= limit for r in server.requests)
    assert sorted(len(texts_of(r)) for r in server.requests) == [3] * 4


@pytest.mark.parametrize("mode", MODES)
async def test_batches_are_split_by_count(mode):
    server = Server()
    texts = [str(i) for i in range(70)]
    assert await embed(make(server), mode, texts) == [vec(t) for t in texts]
    assert sorted(len(texts_of(r)) for r in server.requests) == [6, 32, 32]


# --- 413 splitting ---


def too_large_above(limit):
    def fail(texts):
        if len(texts) > limit:
            return httpx.Response(
                413, json={"error": "Batch size error", "error_type": "validation"}
            )
        return None

    return fail


async def test_413_halves_the_batch_until_it_fits_sync():
    server = Server(fail=too_large_above(2))
    texts = [f"t{i}" for i in range(8)]
    assert make(server, batch_size=8).embed_documents(texts) == [vec(t) for t in texts]
    assert [len(texts_of(r)) for r in server.requests] == [8, 4, 2, 2, 4, 2, 2]


async def test_413_halves_the_batch_until_it_fits_async():
    server = Server(fail=too_large_above(3))
    texts = [f"t{i}" for i in range(7)]
    assert await make(server, batch_size=7).aembed_documents(texts) == [vec(t) for t in texts]
    sizes = sorted(len(texts_of(r)) for r in server.requests)
    assert sizes == [2, 2, 3, 4, 7]  # 7 -> 4 (413) + 3 (fits); 4 -> 2 + 2
    assert server.completed[-1] != texts  # the full batch was never answered


@pytest.mark.parametrize("mode", MODES)
async def test_413_on_one_text_alone_fails_that_text_clearly(mode):
    big = "B" * 50

    def fail(texts):
        if big in texts:
            return httpx.Response(413, json={"error": "Input too long"})
        return None

    server = Server(fail=fail)
    texts = ["a", big, "c", "d"]
    with pytest.raises(HFBatchError) as caught:
        await embed(make(server, batch_size=4), mode, texts)
    error = caught.value
    assert error.failed_indices == [1]
    assert isinstance(error.errors[1], HFPayloadTooLargeError)
    assert "input position 1" in error.errors[1].message
    assert "truncate=True" in error.errors[1].message
    assert "Input too long" in str(error)
    assert isinstance(error.__cause__, HFPayloadTooLargeError)


@pytest.mark.parametrize("mode", MODES)
async def test_413_on_a_single_query_raises_a_clear_error(mode):
    server = Server(fail=lambda _texts: httpx.Response(413, text="too big"))
    with pytest.raises(HFBatchError, match="input position 0") as caught:
        await embed_query(make(server, base_url=BASE), mode, "q")
    assert caught.value.failed_indices == [0]
    assert "truncate" not in caught.value.errors[0].message  # the OpenAI route has no truncate
    assert len(server.requests) == 1


# --- failures after retries ---


@pytest.mark.parametrize("mode", MODES)
async def test_partial_failure_names_exactly_the_failed_texts(mode):
    attempts = []

    def fail(texts):
        if "text number 4" in texts:
            attempts.append(texts)
            return httpx.Response(500, json={"error": "backend crashed"})
        return None

    server = Server(fail=fail)
    with pytest.raises(HFBatchError) as caught:
        await embed(make(server, batch_size=3, max_retries=2), mode, TEXTS)
    error = caught.value
    assert error.failed_indices == [3, 4, 5]
    assert sorted(error.errors) == [3, 4, 5]
    assert isinstance(error.__cause__, HFServerError)
    assert error.total == 10
    assert len(attempts) == 3  # retried by the transport: 1 + 2 retries, no extra loop
    assert len(server.requests) == 3 + 3  # the other three batches were still sent once
    assert "3 of 10" in str(error)
    assert "3-5" in str(error)


@pytest.mark.parametrize("mode", MODES)
async def test_an_authentication_error_stops_sending_new_batches(mode):
    server = Server(fail=lambda _texts: httpx.Response(401, json={"error": "Invalid credentials"}))
    with pytest.raises(HFBatchError, match="not sent") as caught:
        await embed(make(server, batch_size=2, max_concurrency=1), mode, TEXTS)
    assert caught.value.failed_indices == list(range(10))
    assert sorted(caught.value.errors) == [0, 1]
    assert isinstance(caught.value.__cause__, HFAuthenticationError)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_count_mismatch_is_a_response_error_and_nothing_is_returned(mode):
    def handler(request):
        return httpx.Response(
            200, json=[vec(t) for t in texts_of(request)][:-1], headers={"x-request-id": "r1"}
        )

    with pytest.raises(HFBatchError) as caught:
        await embed(make(handler), mode, ["a", "b", "c"])
    cause = caught.value.__cause__
    assert isinstance(cause, HFResponseError)
    assert "returned 2 embedding(s) for 3 input(s)" in cause.message
    assert cause.request_id == "r1"


@pytest.mark.parametrize("mode", MODES)
async def test_different_widths_across_batches_are_refused(mode):
    def handler(request):
        texts = texts_of(request)
        width = 2 if texts[0] == "a" else 3
        return httpx.Response(200, json=[[1.0] * width for _ in texts])

    with pytest.raises(HFResponseError, match="different sizes"):
        await embed(make(handler, batch_size=1), mode, ["a", "b"])


async def test_a_non_json_answer_fails_the_batch():
    def handler(request):
        return httpx.Response(200, text="<html>proxy</html>", headers={"content-type": "text/html"})

    with pytest.raises(HFBatchError) as caught:
        make(handler).embed_documents(["a"])
    assert isinstance(caught.value.__cause__, HFResponseError)


# --- bad configuration: refused before any request ---


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": -1},
        {"batch_size": True},
        {"max_batch_bytes": 0},
        {"max_batch_bytes": -10},
        {"max_concurrency": 0},
        {"max_concurrency": 1.5},
        {"dimensions": 8},  # hf-inference: unsupported
        {"encoding_format": "base64"},  # hf-inference: unsupported
        {"model": "BAAI/bge-m3:together", "normalize": True},
        {"model": "BAAI/bge-m3:together", "prompt_name": "query"},
        {"base_url": BASE, "truncate": True},
        {"model": "BAAI/bge-m3:nebius"},
        {"model": "BAAI/bge-m3:fastest"},
        {"model": "unknownalias"},
        {"model": "BAAI/bge-m3", "api": "openai"},
        {"model": "BAAI/bge-m3:together", "api": "feature-extraction"},
        {"api": "grpc"},
        {"provider_model_id": "x"},
        {"base_url": BASE, "provider_model_id": "x"},
        {"model": "BAAI/bge-m3:together", "provider_model_id": " "},
        {"base_url": "ftp://host"},
        {"query_instruction": 3},
        {"truncation_direction": "up"},
    ],
)
def test_bad_configuration_fails_before_any_request(kwargs):
    with pytest.raises(HFConfigError):
        make(fail_if_called, **kwargs)


def test_unsupported_parameter_error_names_the_routes_that_support_it():
    with pytest.raises(HFConfigError) as caught:
        make(fail_if_called, dimensions=8)
    message = str(caught.value)
    assert "dimensions" in message
    assert "hf-inference" in message
    assert "api='openai'" in message
    assert "together" in message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("texts", ["not a list", ["ok", 3], [None]])
async def test_bad_texts_fail_before_any_request(mode, texts):
    with pytest.raises(HFConfigError):
        await embed(make(fail_if_called), mode, texts)


@pytest.mark.parametrize("mode", MODES)
async def test_a_non_string_query_fails_before_any_request(mode):
    with pytest.raises(HFConfigError):
        await embed_query(make(fail_if_called), mode, 42)


def test_select_route_is_usable_on_its_own():
    route = select_route(model="BAAI/bge-m3:deepinfra", provider_model_id="bge-m3")
    assert (route.api, route.wire_model, route.model_id) == ("openai", "bge-m3", "BAAI/bge-m3")
    assert "deepinfra" in route.label or "providers" in route.label


# --- progress ---


@pytest.mark.parametrize("mode", MODES)
async def test_progress_callback_reports_every_batch(mode):
    seen = []
    service = make(Server(), batch_size=3, progress=lambda done, total: seen.append((done, total)))
    await embed(service, mode, TEXTS)
    assert [total for _, total in seen] == [10] * 4
    assert sorted(done for done, _ in seen) == [done for done, _ in seen]
    assert seen[-1] == (10, 10)


async def test_show_progress_draws_a_bar_only_for_multi_batch_jobs(capsys):
    service = make(Server(), batch_size=3, show_progress=True)
    service.embed_documents(["one", "two"])
    assert "Embedding" not in capsys.readouterr().err
    service.embed_documents(TEXTS)
    assert "Embedding" in capsys.readouterr().err
    quiet = make(Server(), batch_size=3)
    await quiet.aembed_documents(TEXTS, show_progress=True)
    assert "10/10" in capsys.readouterr().err


def test_repr_names_the_route_without_secrets():
    service = EmbeddingService(model="BAAI/bge-m3", token="hf_secretsecretsecret")
    assert "hf-inference" in repr(service)
    assert "secret" not in repr(service)


# --- bulk semantics (issue 15) ---


class RateLimited(Server):
    """Every batch gets ``failures`` answers of 429 (then 503 loading, alternately) first."""

    def __init__(self, failures):
        super().__init__(openai=True)
        self.failures = failures
        self.seen = {}

    def answer(self, request):
        key = texts_of(request)[0]
        with self.lock:
            count = self.seen[key] = self.seen.get(key, 0) + 1
        if count <= self.failures:
            if count % 2:
                return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "0"})
            return httpx.Response(503, json={"error": "Model is currently loading", "estimated_time": 0})
        return super().answer(request)


@pytest.mark.parametrize("mode", MODES)
async def test_rate_limits_are_backpressure_not_failure(mode):
    server = RateLimited(failures=6)  # far past max_retries=1
    service = make(server, base_url=BASE, model="m", batch_size=2, max_retries=1)
    vectors = await embed(service, mode, TEXTS)
    assert vectors == [vec(text) for text in TEXTS]
    assert len(server.requests) == 5 * 7


@pytest.mark.parametrize("mode", MODES)
async def test_429_forever_ends_at_the_deadline_naming_every_position(mode):
    def always_429(request):
        return httpx.Response(429, json={"error": "quota"}, headers={"retry-after": "0"})

    async def async_429(request):
        await asyncio.sleep(0.001)
        return always_429(request)

    client = HFClient(base_url=BASE, transport=httpx.MockTransport(always_429),
                      sleep=lambda _s: time.sleep(0.001))  # fmt: skip
    async_client = AsyncHFClient(base_url=BASE, transport=httpx.MockTransport(async_429))
    service = EmbeddingService(base_url=BASE, model="m", batch_size=2, job_timeout=0.3,
                               client=client, async_client=async_client)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(HFBatchError) as caught:
        await embed(service, mode, TEXTS)
    assert 0.25 < time.monotonic() - started < 3
    assert caught.value.failed_indices == list(range(10))
    assert "deadline (job_timeout=0.3 s)" in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"job_timeout": 0}, {"job_timeout": -5}, {"job_timeout": float("nan")},
     {"job_timeout": "60"}, {"max_concurrency": 0}, {"max_concurrency": -1}],
)  # fmt: skip
def test_bad_bulk_settings_fail_before_any_request(kwargs):
    with pytest.raises(HFConfigError):
        make(fail_if_called, base_url=BASE, model="m", **kwargs)


def test_sync_job_threads_belong_to_the_bulk_job():
    from hfbridge.transport.jobs import current_job

    jobs = []

    def handler(request):
        jobs.append(current_job())
        return Server(openai=True).answer(request)

    service = make(handler, base_url=BASE, model="m", batch_size=1, job_timeout=99)
    service.embed_documents(TEXTS)
    assert len(jobs) == 10 and all(job is jobs[0] and job.job_timeout == 99 for job in jobs)


def test_the_bar_is_quiet_by_default_when_nobody_watches(capsys):
    service = make(Server(openai=True), base_url=BASE, model="m", batch_size=1)
    service.embed_documents(TEXTS * 3)
    assert "Embedding" not in capsys.readouterr().err


def test_a_large_sync_job_runs_on_the_async_engine_in_a_private_loop():
    threads = set()

    def handler(request):
        threads.add(threading.current_thread().name)
        return Server(openai=True).answer(request)

    service = make(handler, base_url=BASE, model="m", batch_size=1)
    many = TEXTS * 7  # 70 batches
    assert service.embed_documents(many) == [vec(text) for text in many]
    assert threads == {"hfbridge-batch-loop"}
    threads.clear()
    service.embed_documents(TEXTS)  # 10 batches: the thread pool
    assert "hfbridge-batch-loop" not in threads


def test_a_sync_client_given_alone_carries_a_large_sync_job():
    server = Server(openai=True)
    client = HFClient(base_url=BASE, transport=httpx.MockTransport(server), sleep=lambda _s: None)
    service = EmbeddingService(base_url=BASE, model="m", batch_size=1, client=client)
    many = TEXTS * 7
    assert service.embed_documents(many) == [vec(text) for text in many]
    assert len(server.requests) == 70


async def test_a_large_sync_job_inside_a_running_loop_and_its_errors():
    many = TEXTS * 7
    service = make(RateLimited(failures=0), base_url=BASE, model="m", batch_size=1)
    assert service.embed_documents(many) == [vec(text) for text in many]  # a loop runs here
    failing = make(lambda _request: httpx.Response(422, json={"error": "no"}), base_url=BASE,
                   model="m", batch_size=1)  # fmt: skip
    with pytest.raises(HFBatchError):
        failing.embed_documents(many)
