"""Figure 9: rerank 1,000 documents against a loopback reranker capped at 32 texts per request.

Part of ``python -m benchmarks.run`` (``--only rerank``), or alone:
``python -m benchmarks.fig_rerank [--reps 7] [--latency 0.1] [--slots 4]``, which starts
:mod:`benchmarks.rerank_server` (TEI's ``/rerank`` and llama-server's ``/v1/rerank``, 413 past 32
texts, ``slots`` requests computed at once, each taking ``latency`` s), runs every contender
``reps`` times, interleaved (repetition i of each before repetition i+1 of any) after one warm-up
call each, and prints a Markdown table: the median wall time of one call (1,000 documents, keep
the best 3), its ratio to the server-bound time (``ceil(ceil(1000 / 32) / slots) * latency``),
and what the server saw. A contender that raises is reported as failed with its error, never
dropped. Each call's answer is checked: the relevant document must come first.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks import rerank_server
from benchmarks.harness import FAILED, Column, Figure, Row, Settings

DOCUMENTS = 1000
TOP_N = 3
CAP = rerank_server.TEI_CAP
QUERY = "Where does the giant panda live?"
RELEVANT = "The giant panda lives in the mountains of central China."
RELEVANT_AT = 777
LATENCY = 0.1  # seconds per request at the server
SLOTS = 4  # requests the server computes at once
FAMILIES = {"raw": "transport", "anchor": "llama_index"}

Call = Callable[[], str]  # one rerank of the 1,000 documents; returns the best text

LOOP = asyncio.new_event_loop()
"""Every async contender runs on this one loop, as in an application: its connections live on."""


_SESSIONS: list[Any] = []  # the raw reference's aiohttp session, closed at the end
_CLIENTS: list[Any] = []  # hfbridge's async clients on LOOP, closed at the end


def on_loop(make: Callable[[], Any]) -> str:
    """Run the coroutine ``make()`` returns on :data:`LOOP` (one loop for every call)."""
    return str(LOOP.run_until_complete(make()))


def texts() -> list[str]:
    items = [f"Filler passage {i} about the weather in a town." for i in range(DOCUMENTS)]
    items[RELEVANT_AT] = RELEVANT
    return items


def _raw_aiohttp(url: str, slots: int) -> Call:
    """The server-bound reference: ``slots`` batches of 32 in flight, merge by hand."""
    import aiohttp

    items = texts()
    sessions = _SESSIONS

    async def run() -> str:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        session = sessions[0]
        gate = asyncio.Semaphore(slots)
        scores: list[float] = [0.0] * len(items)

        async def one(start: int, session: aiohttp.ClientSession) -> None:
            batch = items[start : start + CAP]
            async with (
                gate,
                session.post(f"{url}/rerank", json={"query": QUERY, "texts": batch}) as answer,
            ):
                answer.raise_for_status()
                for result in json.loads(await answer.read()):
                    scores[start + result["index"]] = result["score"]

        await asyncio.gather(*(one(s, session) for s in range(0, len(items), CAP)))
        best = sorted(range(len(items)), key=lambda i: -scores[i])[:TOP_N]
        return items[best[0]]

    return lambda: on_loop(run)


def _documents() -> list[Any]:
    from langchain_core.documents import Document

    return [Document(page_content=text) for text in texts()]


def _nodes() -> list[Any]:
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=text), score=0.5) for text in texts()]


def _hf_reranker(url: str, *, use_async: bool) -> Call:
    from hfbridge.langchain import HFReranker

    reranker = HFReranker(base_url=url, top_n=TOP_N)
    _CLIENTS.append(reranker.service.async_client)
    documents = _documents()
    if use_async:

        async def run() -> str:
            return (await reranker.acompress_documents(documents, QUERY))[0].page_content

        return lambda: on_loop(run)
    return lambda: reranker.compress_documents(documents, QUERY)[0].page_content


def _hf_rerank(url: str, *, use_async: bool) -> Call:
    from hfbridge.llama_index import HFRerank

    rerank = HFRerank(base_url=url, top_n=TOP_N)
    _CLIENTS.append(rerank.service.async_client)

    def sync() -> str:
        return str(rerank.postprocess_nodes(_nodes(), query_str=QUERY)[0].node.get_content())

    async def run() -> str:
        kept = await rerank.apostprocess_nodes(_nodes(), query_str=QUERY)
        return str(kept[0].node.get_content())

    return (lambda: on_loop(run)) if use_async else sync


def _tei_postprocessor(url: str, *, use_async: bool) -> Call:
    from llama_index.core.schema import QueryBundle
    from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

    postprocessor = TextEmbeddingInference(base_url=url, top_n=TOP_N)
    bundle = QueryBundle(QUERY)

    def sync() -> str:
        return str(postprocessor.postprocess_nodes(_nodes(), query_bundle=bundle)[0].node.text)

    async def run() -> str:
        kept = await postprocessor.apostprocess_nodes(_nodes(), query_bundle=bundle)
        return str(kept[0].node.text)

    return (lambda: on_loop(run)) if use_async else sync


def _contender(factory: Callable[..., Call], *, use_async: bool) -> Callable[[str, int], Call]:
    return lambda url, _slots: factory(url, use_async=use_async)


CONTENDERS: dict[str, tuple[str, Callable[[str, int], Call]]] = {
    "raw aiohttp, `slots` batches of 32 in flight": ("raw", _raw_aiohttp),
    "hfbridge HFReranker.compress_documents": (
        "hfbridge", _contender(_hf_reranker, use_async=False)
    ),
    "hfbridge HFReranker.acompress_documents": (
        "hfbridge", _contender(_hf_reranker, use_async=True)
    ),
    "hfbridge HFRerank.postprocess_nodes": ("hfbridge", _contender(_hf_rerank, use_async=False)),
    "hfbridge HFRerank.apostprocess_nodes": ("hfbridge", _contender(_hf_rerank, use_async=True)),
    "llama-index TextEmbeddingInference.postprocess_nodes": (
        "anchor", _contender(_tei_postprocessor, use_async=False)
    ),
    "llama-index TextEmbeddingInference.apostprocess_nodes": (
        "anchor", _contender(_tei_postprocessor, use_async=True)
    ),
}  # fmt: skip


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc!r}"[:120]


def _probe(server: rerank_server.Running, call: Call | None, row: dict[str, Any]) -> None:
    """Call a failed contender once more and note what the server saw of it."""
    before = server.stats()
    try:
        if call is not None:
            call()
    except Exception as exc:
        del exc
    after = server.stats()
    row["requests"] = after["requests"] - before["requests"]
    row["statuses"] = {
        status: count - before["statuses"].get(status, 0)
        for status, count in after["statuses"].items()
        if count - before["statuses"].get(status, 0)
    }


def _close() -> None:
    """Close the connections the async contenders opened on :data:`LOOP`."""
    for session in _SESSIONS:
        LOOP.run_until_complete(session.close())
    for client in _CLIENTS:
        LOOP.run_until_complete(client.aclose())
    _SESSIONS.clear()
    _CLIENTS.clear()


def measure(reps: int, latency: float, slots: int) -> tuple[list[dict[str, Any]], float]:
    """Every contender's times and server counts; and the server-bound time."""
    rows: dict[str, dict[str, Any]] = {}
    with rerank_server.start(latency=latency, slots=slots) as server:
        bound = server.server_bound_seconds(DOCUMENTS)
        calls: dict[str, Call] = {}
        for name, (group, factory) in CONTENDERS.items():
            row = rows[name] = {"name": name, "group": group, "seconds": [], "error": None}
            try:
                calls[name] = factory(server.url, slots)
                if calls[name]() != RELEVANT:  # warm-up: connections, imports, the limiter
                    row["error"] = "wrong answer: the relevant document is not first"
            except Exception as exc:
                row["error"] = _failure(exc)
        for _ in range(reps):
            for name, call in calls.items():
                row = rows[name]
                if row["error"] is not None:
                    continue
                before = server.stats()
                started = time.perf_counter()
                try:
                    best = call()
                except Exception as exc:
                    row["error"] = _failure(exc)
                    continue
                row["seconds"].append(time.perf_counter() - started)
                after = server.stats()
                row["requests"] = after["requests"] - before["requests"]
                row["refused"] = sum(
                    v - before["statuses"].get(k, 0)
                    for k, v in after["statuses"].items()
                    if k != "200"
                )
                if best != RELEVANT:
                    row["error"] = "wrong answer: the relevant document is not first"
        for name, row in rows.items():
            if row["error"] is not None and "requests" not in row:
                _probe(server, calls.get(name), row)
    _close()
    return list(rows.values()), bound


def table(rows: list[dict[str, Any]], bound: float) -> str:
    """The Markdown table of the figure."""
    raw = next((r for r in rows if r["group"] == "raw" and r["seconds"]), None)
    raw_median = statistics.median(raw["seconds"]) if raw else None
    lines = [
        (
            "| contender | kind | median s | runs | x server-bound | x raw aiohttp | requests "
            "| notes |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    lines.append(f"| server-bound time | floor | {bound:.3f} | - | 1.00 | - | 32 | computed |")
    for row in rows:
        if row["error"] is not None or not row["seconds"]:
            seen = row.get("statuses", {})
            note = f"**failed**: {row['error']}; server saw {row.get('requests', '?')} request(s)"
            note += f", statuses {seen}" if seen else ""
            lines.append(f"| {row['name']} | {row['group']} | - | - | - | - | - | {note} |")
            continue
        median = statistics.median(row["seconds"])
        versus_raw = f"{median / raw_median:.2f}" if raw_median else "-"
        lines.append(
            f"| {row['name']} | {row['group']} | {median:.3f} | {len(row['seconds'])} | "
            f"{median / bound:.2f} | {versus_raw} | {row.get('requests', '-')} | "
            f"{row.get('refused', 0)} refused (413) in the last run |"
        )
    return "\n".join(lines)


def _family(name: str, group: str) -> str:
    if "HFReranker" in name:
        return "langchain"
    if group == "hfbridge" or "llama-index" in name:
        return "llama_index"
    return FAMILIES.get(group, "transport")


def run(server: Any, settings: Settings) -> Figure:
    """The harness's figure: the loopback reranker of its own (``server`` is not used)."""
    del server
    rows, bound = measure(settings.reps, LATENCY, SLOTS)
    figure = Figure(
        key="rerank",
        title=f"9. Rerank {DOCUMENTS:,} documents (server takes <= {CAP} per request)",
        columns=[Column("wall_s", "wall s", "s")],
        primary="wall_s",
        params={
            "documents": DOCUMENTS,
            "top_n": TOP_N,
            "server_cap": CAP,
            "slots": SLOTS,
            "latency_s": LATENCY,
        },
        notes=[
            (
                f"Floor = the server-bound time, computed: ceil(ceil({DOCUMENTS} / {CAP}) / "
                f"{SLOTS}) x {LATENCY} s. The server is benchmarks/rerank_server.py (TEI's "
                f"/rerank, 413 past {CAP} texts); async rows run on one event loop, as in an "
                "application."
            ),
            (
                "llama-index's TEI postprocessor sends every node in one request: the server's "
                "413 body then fails its `assert len(scores) == len(nodes)` (a bare "
                "AssertionError)."
            ),
        ],
    )
    floor = Row("server-bound time (computed)", "floor", "transport")
    floor.record("wall_s", [bound])
    figure.rows.append(floor)
    for measured in rows:
        row = Row(measured["name"], measured["group"], _family(measured["name"], measured["group"]))
        if measured["error"] is not None or not measured["seconds"]:
            row.status, row.detail = FAILED, str(measured["error"])
            if measured.get("statuses"):
                row.detail += (
                    f" (server saw {measured['requests']} request(s): {measured['statuses']})"
                )
        else:
            row.record("wall_s", measured["seconds"])
            row.detail = f"{measured['requests']} requests, {measured['refused']} refused"
        figure.rows.append(row)
    figure.extra["floors"] = {
        "wall_s": {
            family: {"value": bound, "from": [floor.name]}
            for family in ("transport", "langchain", "llama_index", "hub")
        }
    }
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--slots", type=int, default=SLOTS)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rows, bound = measure(args.reps, args.latency, args.slots)
    print(
        f"{DOCUMENTS:,} documents, top_n={TOP_N}, cap {CAP}, slots {args.slots}, latency "
        f"{args.latency} s, {args.reps} reps; load {load:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"{time.perf_counter() - started:.0f} s; llama-index-postprocessor-tei-rerank "
        f"{importlib.metadata.version('llama-index-postprocessor-tei-rerank')}\n"
    )
    print(table(rows, bound))


if __name__ == "__main__":
    main()
