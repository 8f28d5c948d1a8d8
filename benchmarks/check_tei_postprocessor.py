"""What llama-index's TEI reranker does against a server capped at 32 texts per request.

``python -m benchmarks.check_tei_postprocessor`` starts the loopback reranker
(:mod:`benchmarks.rerank_server`), reranks 20, 32 and 1,000 nodes with
``llama_index.postprocessor.tei_rerank.TextEmbeddingInference`` (sync and async), and prints the
outcome and what the server saw. The rerank benchmark figure uses :func:`rerank_nodes` as its
llama-index contender.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from typing import Any

from benchmarks import rerank_server

QUERY = "Where does the giant panda live?"
RELEVANT = "The giant panda lives in the mountains of central China."


def nodes(count: int) -> list[Any]:
    """``count`` nodes, the relevant one third from the end."""
    from llama_index.core.schema import NodeWithScore, TextNode

    texts = [f"Filler passage {i} about the weather in a town." for i in range(count)]
    texts[max(0, count - 3)] = RELEVANT
    return [NodeWithScore(node=TextNode(text=text), score=0.5) for text in texts]


def rerank_nodes(url: str, count: int, top_n: int = 3, *, use_async: bool = False) -> list[Any]:
    """Rerank ``count`` nodes with llama-index's TEI postprocessor against ``url``."""
    from llama_index.core.schema import QueryBundle
    from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

    postprocessor = TextEmbeddingInference(base_url=url, top_n=top_n)
    bundle = QueryBundle(QUERY)
    if use_async:
        return asyncio.run(postprocessor.apostprocess_nodes(nodes(count), query_bundle=bundle))
    return postprocessor.postprocess_nodes(nodes(count), query_bundle=bundle)


def main() -> None:
    version = importlib.metadata.version("llama-index-postprocessor-tei-rerank")
    print(f"llama-index-postprocessor-tei-rerank {version}")
    for count in (20, 32, 1000):
        for use_async in (False, True):
            with rerank_server.start(latency=0.02, slots=4) as server:
                started = time.perf_counter()
                try:
                    kept = rerank_nodes(server.url, count, use_async=use_async)
                    outcome = f"ok, best: {kept[0].node.text[:40]!r}"
                except Exception as exc:
                    outcome = f"FAILED: {type(exc).__name__}: {exc!r}"[:160]
                elapsed = time.perf_counter() - started
                stats = server.stats()
            mode = "async" if use_async else "sync"
            print(
                f"{count:>5} nodes {mode:>5}: {outcome} ({elapsed:.3f} s); server saw "
                f"{stats['requests']} request(s), largest {stats['largest_request']} texts, "
                f"statuses {stats['statuses']}"
            )


if __name__ == "__main__":
    main()
