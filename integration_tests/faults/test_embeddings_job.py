"""Nothing lost: a 20,000-text embedding job through a server that fails about 10% of requests.

The server computes a deterministic vector per text (:func:`faultserver.vector_for`), answers
each batch with its ``data`` items in reverse order (``index`` says where each belongs), and fails
requests by a seeded hash of (batch, attempt): 429 with ``Retry-After: 0``, 503 "loading" with
``estimated_time: 0``, or a connection reset, at most twice for the same batch, so every batch
succeeds within the retry budget. The job must return exactly one vector per text, each equal to
the vector of its own text, in input order. A second job poisons a few batches (they fail on
every attempt): it must raise ``HFBatchError`` naming exactly the texts of those batches, and
return nothing.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from faultserver import vector_for
from support import EMBED_PATH, FlakyEmbedder, fast_config

from hfbridge.errors import HFBatchError, HFModelLoadingError, HFServerError
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.transport import AsyncHFClient, HFClient

TEXTS = [f"document {i}: {'lorem ipsum ' * (i % 7)}".strip() for i in range(20_000)]


def embedding_service(base_url: str, **kwargs) -> EmbeddingService:
    config = fast_config(base_url)
    return EmbeddingService(
        model="fault-embedder", base_url=base_url, document_instruction="",
        client=HFClient(config), async_client=AsyncHFClient(config), **kwargs,
    )  # fmt: skip


def run(service: EmbeddingService, mode: str, texts: list[str]):
    if mode == "sync":
        return service.embed_documents(texts)
    return asyncio.run(service.aembed_documents(texts))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_twenty_thousand_texts_with_ten_percent_failures_lose_nothing(
    fault_server, fault_report, mode
):
    handler = FlakyEmbedder()
    fault_server.route(EMBED_PATH, handler)
    service = embedding_service(fault_server.url + "/v1", batch_size=16, max_concurrency=8)
    started = time.monotonic()

    vectors = run(service, mode, TEXTS)

    elapsed = time.monotonic() - started
    assert len(vectors) == len(TEXTS)
    pairs = enumerate(zip(TEXTS, vectors, strict=True))
    mismatched = [i for i, (text, vector) in pairs if vector != vector_for(text)]
    assert mismatched == []
    requests = fault_server.by_path[EMBED_PATH]
    faults = sum(fault_server.faults.values())
    batches = len(handler.attempts)
    assert batches == len(TEXTS) // 16
    assert handler.items_served == len(TEXTS)  # each text embedded exactly once
    assert requests == batches + faults  # every failed request was retried, nothing more
    assert 0.07 <= faults / requests <= 0.13  # about 10% of requests failed
    assert {"429", "503-loading", "reset"} <= set(fault_server.faults)
    fault_report(
        f"embeddings job ({mode})",
        texts=len(TEXTS), requests=requests, faults=dict(fault_server.faults),
        retries=requests - batches, vectors=len(vectors), seconds=round(elapsed, 2),
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_job_failing_past_the_budget_names_the_failed_texts_and_returns_nothing(
    fault_server, fault_report, mode
):
    poison = frozenset({TEXTS[37], TEXTS[5000], TEXTS[5001], TEXTS[19_999]})
    handler = FlakyEmbedder(poison)
    fault_server.route(EMBED_PATH, handler)
    service = embedding_service(fault_server.url + "/v1", batch_size=16, max_concurrency=8)
    result = None

    with pytest.raises(HFBatchError) as caught:
        result = run(service, mode, TEXTS)

    assert result is None  # nothing partial came back
    error = caught.value
    position = {text: index for index, text in enumerate(TEXTS)}
    expected = sorted(position[text] for batch in handler.poisoned_batches for text in batch)
    assert len(handler.poisoned_batches) == 3  # 5000 and 5001 share a batch
    assert error.failed_indices == expected
    assert error.total == len(TEXTS)
    assert sorted(error.errors) == expected
    assert all(isinstance(e, HFServerError) for e in error.errors.values())
    assert not any(isinstance(e, HFModelLoadingError) for e in error.errors.values())
    assert f"{len(expected)} of {len(TEXTS)}" in str(error)
    assert "32-47" in str(error)  # the message names the positions, as ranges
    assert "no partial result" in str(error)
    assert isinstance(error.__cause__, HFServerError)
    # Everything else was embedded; only the poisoned batches exhausted their retries.
    assert handler.items_served == len(TEXTS) - len(expected)
    assert fault_server.faults["503-poison"] == 3 * 4
    fault_report(
        f"embeddings job over budget ({mode})",
        texts=len(TEXTS), requests=fault_server.by_path[EMBED_PATH],
        faults=dict(fault_server.faults), failed_items=len(error.failed_indices), vectors=0,
    )  # fmt: skip
