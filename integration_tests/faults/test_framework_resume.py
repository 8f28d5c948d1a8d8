"""Resume through the frameworks' own stores after SIGKILL at 50% of 20,000 texts (issue 15).

LangChain: ``CacheBackedEmbeddings`` over a ``LocalFileStore`` (stored every ``batch_size``
texts). LlamaIndex: an ``IngestionPipeline`` with ``IngestionCache`` and a docstore, run and
persisted per chunk of documents, also with ``num_workers=2``. A job runs in a child process
against the rate-limited server; it is killed once the server has embedded half the texts, then
run again to the end. Counted: texts the server embedded beyond the 20,000 (embedded again), which
must be at most the chunk that was in flight (1,000 texts; 5,000 with ``num_workers``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.ratelimited import RateLimitedServer  # noqa: E402

COUNT = 20_000
CHUNKS = {"langchain": 1_000, "llama_index": 1_000, "llama_index_workers": 5_000}
"""Texts per store update; with num_workers each pipeline run spawns its worker processes (~2 s)."""

JOB = """
import sys
from pathlib import Path
kind, base, store = sys.argv[1], sys.argv[2], Path(sys.argv[3])
count, chunk = int(sys.argv[4]), int(sys.argv[5])
texts = [f"resume text {i}" for i in range(count)]
if kind == "langchain":
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore
    from hfbridge.langchain import HFEmbeddings
    cached = CacheBackedEmbeddings.from_bytes_store(
        HFEmbeddings(base_url=base, model="bench"), LocalFileStore(store), namespace="bench",
        batch_size=chunk)
    vectors = cached.embed_documents(texts)
    assert len(vectors) == count
    print("stored", sum(1 for _ in LocalFileStore(store).yield_keys()))
else:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionCache, IngestionPipeline
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from hfbridge.llama_index import HFEmbedding
    workers = 2 if kind == "llama_index_workers" else None
    pipeline = IngestionPipeline(
        transformations=[HFEmbedding(base_url=base, model="bench")],
        cache=IngestionCache(), docstore=SimpleDocumentStore())
    if store.exists():
        pipeline.load(str(store))
    documents = [Document(text=t, id_=f"doc-{i}") for i, t in enumerate(texts)]
    for start in range(0, count, chunk):
        pipeline.run(documents=documents[start:start + chunk], num_workers=workers)
        pipeline.persist(str(store))
    print("stored", len(pipeline.docstore.docs))
"""


@pytest.fixture(scope="module")
def server():
    with RateLimitedServer(rate=100, latency=0.02) as running:
        yield running


def _start(kind: str, base: str, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", JOB, kind, base, str(store), str(COUNT), str(CHUNKS[kind])],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", ["langchain", "llama_index", "llama_index_workers"])
def test_sigkill_at_half_way_then_rerun_embeds_again_at_most_the_chunk_in_flight(
    server, tmp_path, kind, fault_report
):
    server.configure(rate=500, latency=0.02)
    store = tmp_path / "store"
    job = _start(kind, server.base, store)
    deadline = time.monotonic() + 240
    # Half way, then half a chunk more: the kill lands while the chunk's requests are in flight.
    # At a chunk boundary it would land while the store writes the chunk, and LangChain's
    # LocalFileStore writes in place: a file cut there is unreadable on the rerun (README, Bulk).
    kill_at = COUNT // 2 + CHUNKS[kind] // 2
    while server.stats().get("texts", 0) < kill_at:
        assert job.poll() is None, f"the job ended before half way: {job.communicate()}"
        assert time.monotonic() < deadline, "the job did not reach half way in 240 s"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # the job and any worker processes it started
    job.communicate()
    at_kill = server.stats()["texts"]
    rerun = _start(kind, server.base, store)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0
    assert f"stored {COUNT}" in out
    again = server.stats()["texts"] - COUNT
    fault_report(f"resume {kind}", embedded_at_kill=at_kill, embedded_again=again)
    assert 0 <= again <= CHUNKS[kind]
