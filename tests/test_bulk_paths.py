"""Every bulk path is a bulk job under the limiter: 429s are backpressure, results keep order.

HFTextGen batches, ChatHF.batch/abatch, an HFLLM fan-out inside ``bulk_job``, and the bad input
of the bulk settings (issue 15). Over MockTransport: each prompt gets several 429s first, more
than ``max_retries`` allows.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from hfbridge.errors import HFBatchError, HFConfigError, HFRateLimitError
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.transport.jobs import bulk_job, current_job
from hfbridge.transport.limiter import limiter_for

BASE = "http://127.0.0.1:9/v1"
PROMPTS = [f"prompt {i}" for i in range(12)]


class Limited:
    """429 (Retry-After: 0) for the first ``failures`` tries of each prompt, then its answer."""

    def __init__(self, failures: int = 4, poison: str | None = None) -> None:
        self.failures = failures
        self.poison = poison
        self.tries: dict[str, int] = {}
        self.jobs: list[object] = []
        self.lock = threading.Lock()

    def answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        prompt = body["prompt"] if "prompt" in body else body["messages"][-1]["content"]
        with self.lock:
            self.jobs.append(current_job())
            tries = self.tries[prompt] = self.tries.get(prompt, 0) + 1
        if prompt == self.poison:
            return httpx.Response(422, json={"error": "cannot process"})
        if tries <= self.failures:
            return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "0"})
        if "prompt" in body:
            choice = {"index": 0, "text": f"done {prompt}", "finish_reason": "stop"}
            return httpx.Response(200, json={"id": "x", "object": "text_completion",
                                             "choices": [choice]})  # fmt: skip
        message = {"role": "assistant", "content": f"done {prompt}"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "model": "m",
                                         "choices": [choice]})  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return self.answer(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return self.answer(request)


async def _no_sleep(_seconds: float) -> None:
    return None


def clients(server: Limited) -> dict[str, object]:
    settings = {"base_url": BASE, "max_retries": 1}
    return {
        "client": HFClient(
            transport=httpx.MockTransport(server), sleep=lambda _s: None, **settings
        ),
        "async_client": AsyncHFClient(
            transport=httpx.MockTransport(server.handle_async), sleep=_no_sleep, **settings
        ),
    }


def textgen(server: Limited, **kwargs: object) -> HFTextGen:
    return HFTextGen(model="m", base_url=BASE, max_retries=1, **clients(server), **kwargs)


def test_textgen_batch_rides_out_429s_past_max_retries_in_order():
    server = Limited()
    assert textgen(server).batch(PROMPTS) == [f"done {p}" for p in PROMPTS]
    assert all(server.tries[p] == 5 for p in PROMPTS)
    jobs = {id(job) for job in server.jobs}
    assert len(jobs) == 1 and server.jobs[0] is not None  # one bulk job, seen by every thread


async def test_textgen_abatch_rides_out_429s_past_max_retries_in_order():
    server = Limited()
    assert await textgen(server).abatch(PROMPTS) == [f"done {p}" for p in PROMPTS]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_textgen_batch_failure_names_exactly_the_failed_prompts(mode):
    server = Limited(failures=1, poison="prompt 7")
    model = textgen(server)
    async def run() -> object:
        return model.generate(PROMPTS) if mode == "sync" else await model.agenerate(PROMPTS)

    with pytest.raises(HFBatchError) as caught:
        await run()
    assert caught.value.failed_indices == [7] and caught.value.total == 12
    assert "input positions 7" in str(caught.value) and "no partial result" in str(caught.value)


def test_textgen_outside_a_batch_keeps_max_retries():
    server = Limited()
    with pytest.raises(HFRateLimitError):
        textgen(server).invoke("alone")
    assert server.tries["alone"] == 2


def chat(server: Limited, **kwargs: object) -> ChatHF:
    return ChatHF(model="m", base_url=BASE, max_retries=1, **clients(server), **kwargs)


def test_chathf_batch_is_one_bulk_job_with_a_high_ceiling():
    server = Limited()
    answers = chat(server).batch(PROMPTS)
    assert [a.content for a in answers] == [f"done {p}" for p in PROMPTS]
    assert len({id(job) for job in server.jobs}) == 1 and server.jobs[0] is not None
    # LangChain's default pool would give 2 cores + 4 = 6 threads; the limiter let more in
    assert limiter_for(BASE, "m", None).stats().sent == 12 * 5


async def test_chathf_abatch_is_one_bulk_job():
    server = Limited()
    answers = await chat(server).abatch(PROMPTS, config={"max_concurrency": 3})
    assert [a.content for a in answers] == [f"done {p}" for p in PROMPTS]
    assert len({id(job) for job in server.jobs}) == 1


def test_chathf_invoke_alone_keeps_max_retries():
    server = Limited()
    with pytest.raises(HFRateLimitError):
        chat(server).invoke("alone")


async def test_an_hfllm_fan_out_inside_bulk_job_rides_out_429s():
    server = Limited()
    llm = HFLLM(model="m", base_url=BASE, max_retries=1, **clients(server))
    with bulk_job(60) as job:
        answers = await asyncio.gather(*(llm.acomplete(p) for p in PROMPTS))
    assert [a.text for a in answers] == [f"done {p}" for p in PROMPTS]
    assert job.backpressure == 12 * 4


@pytest.mark.parametrize(
    "build",
    [
        lambda: ChatHF(model="m", base_url=BASE, job_timeout=0),
        lambda: ChatHF(model="m", base_url=BASE, job_timeout=-1),
        lambda: HFTextGen(model="m", base_url=BASE, job_timeout=0),
        lambda: HFTextGen(model="m", base_url=BASE, batch_concurrency=0),
        lambda: HFEmbeddings(model="m", base_url=BASE, job_timeout=float("inf")),
        lambda: HFEmbeddings(model="m", base_url=BASE, max_concurrency=0),
        lambda: HFEmbedding(model="m", base_url=BASE, job_timeout=-3),
        lambda: HFEmbedding(model="m", base_url=BASE, max_concurrency=-1),
    ],
)
def test_bad_bulk_settings_are_refused_at_construction(build):
    with pytest.raises(HFConfigError):
        build()
