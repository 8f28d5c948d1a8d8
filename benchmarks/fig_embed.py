"""Figure 5: embed 20,000 texts against a server that takes at most 32 inputs per request.

Each contender runs in its own interpreter, so that its peak memory is its own. Wall time covers
the whole ``embed 20,000 texts`` call; peak RSS is the process's high-water mark (it includes the
20,000 x 384 vectors the call returns, as the user's process would). The server-bound reference is
raw aiohttp with 4 batches in flight, parsing each answer and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks import bodies, clients
from benchmarks.child import peak_rss_mb, rss_mb, run_child
from benchmarks.harness import OK, UNAVAILABLE, Column, Figure, Row, Settings, set_floors
from benchmarks.servers import Server

TEXTS = 20_000
SERVER_BOUND = "raw aiohttp, 4 batches in flight (server-bound)"
CAP = bodies.EMBED_CAP
CONCURRENCY = 4
BUDGET_S = 60.0  # per contender: fewer repetitions (reported) when one takes longer

Embed = Callable[[list[str]], list[Any]]


def texts(count: int) -> list[str]:
    return [
        f"passage {i}: the quick brown fox jumps over the lazy dog, note {i % 97}"
        for i in range(count)
    ]


def batches(items: list[str]) -> list[list[str]]:
    return [items[i : i + CAP] for i in range(0, len(items), CAP)]


def _raw_httpx(base: str) -> Embed:
    client, url = clients.httpx_client(), f"{base}/embeddings"

    def embed(items: list[str]) -> list[Any]:
        out: list[Any] = []
        for batch in batches(items):
            answer = client.post(url, json={"model": "bench", "input": batch})
            answer.raise_for_status()
            out.extend(d["embedding"] for d in json.loads(answer.content)["data"])
        return out

    return embed


def _raw_aiohttp(base: str) -> Embed:
    import aiohttp

    url = f"{base}/embeddings"

    async def run(items: list[str]) -> list[Any]:
        parts: list[list[Any]] = [[] for _ in batches(items)]
        gate = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession() as session:

            async def one(index: int, batch: list[str]) -> None:
                async with (
                    gate,
                    session.post(url, json={"model": "bench", "input": batch}) as answer,
                ):
                    answer.raise_for_status()
                    parts[index] = [d["embedding"] for d in json.loads(await answer.read())["data"]]

            await asyncio.gather(*(one(i, b) for i, b in enumerate(batches(items))))
        return [vector for part in parts for vector in part]

    return lambda items: asyncio.run(run(items))


def _hf_embeddings(base: str) -> Embed:
    return clients.hf_embeddings(base).embed_documents


def _hf_embedding(base: str) -> Embed:
    return clients.hf_embedding(base).get_text_embedding_batch


def _endpoint_embeddings(base: str) -> Embed:
    from langchain_huggingface import HuggingFaceEndpointEmbeddings

    model = HuggingFaceEndpointEmbeddings(
        model="bench/bench", huggingfacehub_api_token=clients.API_KEY
    )
    model.client = clients.inference_client(
        f"{base.removesuffix('/v1')}/embed"
    )  # URL models refused

    def embed(items: list[str]) -> list[Any]:
        return [vector for batch in batches(items) for vector in model.embed_documents(batch)]

    return embed


def _hf_api_embedding(base: str) -> Embed:
    from llama_index.embeddings.huggingface_api import HuggingFaceInferenceAPIEmbedding

    model = HuggingFaceInferenceAPIEmbedding(
        model_name=f"{base.removesuffix('/v1')}/embed", token=clients.API_KEY
    )
    return model.get_text_embedding_batch


def _openai_embeddings(base: str) -> Embed:
    from langchain_openai import OpenAIEmbeddings

    model = OpenAIEmbeddings(
        model="bench", base_url=base, api_key=clients.API_KEY, chunk_size=CAP,
        check_embedding_ctx_length=False,
    )  # fmt: skip
    return model.embed_documents


def _inference_client(base: str) -> Embed:
    client = clients.inference_client(f"{base.removesuffix('/v1')}/embed")

    def embed(items: list[str]) -> list[Any]:
        return [list(v) for batch in batches(items) for v in client.feature_extraction(batch)]

    return embed


CONTENDERS: dict[str, tuple[str, str, Callable[[str], Embed]]] = {
    "raw httpx, sequential batches of 32": ("raw", "transport", _raw_httpx),
    SERVER_BOUND: ("raw", "transport", _raw_aiohttp),
    "hfbridge HFEmbeddings.embed_documents": ("hfbridge", "langchain", _hf_embeddings),
    "hfbridge HFEmbedding.get_text_embedding_batch": ("hfbridge", "llama_index", _hf_embedding),
    "HuggingFaceEndpointEmbeddings (caller batches by 32)": (
        "anchor",
        "langchain",
        _endpoint_embeddings,
    ),
    "OpenAIEmbeddings(chunk_size=32)": ("anchor", "langchain", _openai_embeddings),
    "HuggingFaceInferenceAPIEmbedding.get_text_embedding_batch": (
        "anchor",
        "llama_index",
        _hf_api_embedding,
    ),
    "InferenceClient.feature_extraction (caller batches by 32)": (
        "anchor",
        "hub",
        _inference_client,
    ),
}


def child(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Child side: build the contender, embed ``count`` texts ``reps`` times; times and memory."""
    embed = CONTENDERS[name][2](args["base"])
    items = texts(args["count"])
    warm = embed(items[:CAP])  # connections, lazy imports
    if len(warm) != CAP:
        return {"status": "failed", "detail": f"wrong answer: {len(warm)} vectors for {CAP} texts"}
    baseline = rss_mb()
    seconds: list[float] = []
    started = time.perf_counter()
    for _ in range(args["reps"]):
        start = time.perf_counter()
        vectors = embed(items)
        seconds.append(time.perf_counter() - start)
        if len(vectors) != len(items) or len(vectors[0]) != bodies.EMBED_DIM:
            return {"status": "failed", "detail": f"wrong answer: {len(vectors)} vectors"}
        del vectors
        if time.perf_counter() - started > args["budget"]:
            break
    return {"status": OK, "seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_rss_mb()}


def run(server: Server, settings: Settings) -> Figure:
    count = 640 if settings.smoke else TEXTS
    figure = Figure(
        key="embed",
        title=f"5. Embeddings of {count:,} texts (server takes <= {CAP} per request)",
        columns=[
            Column("wall_s", "wall s", "s"),
            Column("peak_mb", "peak RSS MiB", "MiB"),
            Column("baseline_mb", "RSS before MiB", "MiB"),
        ],
        primary="wall_s",
        params={"texts": count, "server_cap": CAP, "dimensions": bodies.EMBED_DIM},
        notes=[
            "Floor = the server-bound reference (raw aiohttp, 4 batches in flight, parse only).",
            (
                "Anchors that send every text in one request get 413 from the capped server, as "
                "from a real TEI: their rows say 'caller batches by 32' where the harness batches."
            ),
        ],
    )
    for name, (group, family, _factory) in CONTENDERS.items():
        row = Row(name, group, family)
        figure.rows.append(row)
        args = {"base": server.base(), "count": count, "reps": settings.reps, "budget": BUDGET_S}
        result = run_child("fig_embed", name, args, timeout=BUDGET_S * 3 + 60)
        if result["status"] != OK:
            row.status, row.detail = result["status"], result["detail"]
            if row.status == UNAVAILABLE and group == "hfbridge":
                row.detail = f"not available yet ({row.detail})"
            continue
        row.record("wall_s", result["seconds"])
        row.record("peak_mb", [result["peak_mb"]])
        row.record("baseline_mb", [result["baseline_mb"]])
        if len(result["seconds"]) < settings.reps:
            done = len(result["seconds"])
            row.detail = (
                f"{done} run(s) only: {settings.reps} would exceed the {BUDGET_S:.0f} s budget"
            )
    set_floors(figure, SERVER_BOUND, {})
    floors = figure.extra["floors"]["wall_s"]
    if "transport" in floors:  # every family's floor is the server-bound time
        floors["langchain"] = floors["llama_index"] = floors["transport"]
    return figure
