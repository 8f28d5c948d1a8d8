"""Figure 8: bulk embeddings at a provider's rate limit, across processes, on Ray Data (issue 15).

The rate-limited server (``benchmarks/ratelimited.py``, its own process: a token bucket with one
second of burst, or none in the strict rows, 429 + ``Retry-After: 1`` beyond it, 50 ms latency) is
reconfigured per row; each
contender runs in its own interpreter with its default settings. **share** = successes over what
the bucket could grant between the first and the last success (1.0: nothing wasted); **lost** =
texts without a vector at the end (a failed call loses its whole job). The Ray scale rows run
against the canned nginx server (no limit): texts/s and the peak RSS of the busiest actor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from benchmarks.child import ROOT, peak_rss_mb, run_child
from benchmarks.harness import OK, Column, Figure, Row, Settings
from benchmarks.ratelimited import RateLimitedServer, allowed_share
from benchmarks.servers import Server

LATENCY = 0.05
SECONDS = 20.0  # target length of a rate row at full speed
BATCH = 32


def texts(count: int, tag: str = "bulk") -> list[str]:
    return [f"{tag} passage {i}: the quick brown fox jumps over the lazy dog" for i in range(count)]


# --- child side -----------------------------------------------------------------------------------


def _lost_of(exc: BaseException, total: int) -> int:
    failed = getattr(exc, "failed_indices", None)
    return len(failed) if failed is not None else total


def _embed(name: str, base: str, items: list[str]) -> list[Any]:
    root = base.removesuffix("/v1")
    if name == "hfbridge":
        from hfbridge.langchain import HFEmbeddings

        return HFEmbeddings(base_url=base, model="bench").embed_documents(items)
    if name == "endpoint":
        from huggingface_hub import InferenceClient
        from langchain_huggingface import HuggingFaceEndpointEmbeddings

        model = HuggingFaceEndpointEmbeddings(model="bench/bench",
                                              huggingfacehub_api_token="bench-not-a-secret")
        model.client = InferenceClient(base_url=f"{root}/embed", api_key="bench-not-a-secret")
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        return [vector for batch in batches for vector in model.embed_documents(batch)]
    if name == "openai":
        from langchain_openai import OpenAIEmbeddings

        model = OpenAIEmbeddings(model="bench", base_url=base, api_key="bench-not-a-secret",
                                 chunk_size=BATCH, check_embedding_ctx_length=False)
        return model.embed_documents(items)
    if name == "llama-api":
        from llama_index.embeddings.huggingface_api import HuggingFaceInferenceAPIEmbedding

        model = HuggingFaceInferenceAPIEmbedding(model_name=f"{root}/embed",
                                                 token="bench-not-a-secret")
        return model.get_text_embedding_batch(items)
    raise ValueError(name)


def _ray_embed(args: dict[str, Any]) -> dict[str, Any]:
    import ray

    from hfbridge.ray import HFEmbedBatches

    class Measured(HFEmbedBatches):
        def __call__(self, batch: Any) -> Any:
            out = super().__call__(batch)
            return {**out, "pid": [os.getpid()], "rss": [peak_rss_mb()]}

    # the actors hold one CPU each; the read tasks need CPUs of their own
    ray.init(num_cpus=args["actors"] + 2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)  # fmt: skip
    try:
        count = args["count"]
        dataset = ray.data.range(count, override_num_blocks=max(8, count // 4096)).map_batches(
            _with_text, batch_format="numpy"
        )
        with tempfile.TemporaryDirectory(prefix="hfbridge-bench-ray-") as out:
            started = time.perf_counter()
            rows = dataset.map_batches(
                Measured, concurrency=args["actors"], batch_size=args["batch"],
                batch_format="numpy",
                fn_constructor_kwargs={"base_url": args["base"], "model": "bench",
                                       "output_dir": out},
            ).take_all()  # fmt: skip
            seconds = time.perf_counter() - started
        done = sum(int(r["rows"]) for r in rows)
        peaks: dict[int, float] = {}
        for r in rows:
            peaks[int(r["pid"])] = max(peaks.get(int(r["pid"]), 0.0), float(r["rss"]))
        return {"status": OK, "rows": done, "seconds": seconds,
                "peak_mb": max(peaks.values()) if peaks else 0.0}  # fmt: skip
    finally:
        ray.shutdown()


def _with_text(batch: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    ids = batch["id"]
    return {"id": ids, "text": np.asarray([f"ray passage {i}: the quick brown fox" for i in ids])}


def child(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Child side: one contender's job; what it returned or lost."""
    if name == "ray":
        return _ray_embed(args)
    items = texts(args["count"], args.get("tag", "bulk"))
    started = time.perf_counter()
    try:
        vectors = _embed(name, args["base"], items)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        return {"status": OK, "lost": _lost_of(exc, len(items)), "failed": detail,
                "seconds": time.perf_counter() - started}  # fmt: skip
    lost = len(items) - len(vectors)
    return {"status": OK, "lost": lost, "seconds": time.perf_counter() - started, "failed": ""}


# --- parent side ----------------------------------------------------------------------------------


def _rate_row(  # noqa: PLR0917 - a row's settings
    figure: Figure, server: RateLimitedServer, name: str, contender: str, rate: float, count: int,
    *, processes: int = 1, burst: float = 1.0,
) -> None:
    row = Row(name, "hfbridge" if contender in ("hfbridge", "ray") else "anchor", "bulk")
    figure.rows.append(row)
    server.configure(rate=rate, latency=LATENCY, burst=burst, count_texts=False)
    results: list[dict[str, Any]] = [{} for _ in range(processes)]

    def one(index: int) -> None:
        args = {"base": server.base, "count": count, "tag": f"p{index}", "actors": 4,
                "batch": BATCH * 10}  # fmt: skip
        results[index] = run_child("fig_bulk", contender, args, timeout=900)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    broken = [r for r in results if r.get("status") != OK]
    if broken:
        row.status, row.detail = broken[0]["status"], broken[0].get("detail", "")
        return
    stats = server.stats()
    lost = sum(r.get("lost", 0) for r in results)
    if contender == "ray":
        lost = count - sum(r.get("rows", 0) for r in results)
    row.record("share", [allowed_share(stats)])
    row.record("lost", [float(lost)])
    row.record("seconds", [max(r["seconds"] for r in results)])
    row.record("rate_limited", [float(stats.get("rate_limited", 0))])
    failures = sorted({r["failed"] for r in results if r.get("failed")})
    row.detail = ("failed: " + failures[0]) if failures else "finished"


def _ray_scale_rows(figure: Figure, nginx: Server, count: int) -> None:
    for actors in (1, 2, 4):
        row = Row(f"Ray Data, {actors} actor(s), {count:,} texts, nginx (no limit)", "hfbridge",
                  "ray")  # fmt: skip
        figure.rows.append(row)
        args = {"base": nginx.base(), "count": count, "actors": actors, "batch": BATCH * 8}
        result = run_child("fig_bulk", "ray", args, timeout=1800)
        if result["status"] != OK:
            row.status, row.detail = result["status"], result.get("detail", "")
            continue
        row.record("texts_s", [result["rows"] / result["seconds"]])
        row.record("seconds", [result["seconds"]])
        row.record("peak_mb", [result["peak_mb"]])
        row.record("lost", [float(count - result["rows"])])
        row.detail = "finished; peak RSS = the busiest actor's high-water mark"


_KILLED = """
import sys, ray
from hfbridge.ray import embed_to_parquet
base, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
ds = ray.data.from_items([{"id": i, "text": f"k text {i}"} for i in range(count)])
print("written", embed_to_parquet(ds, out, id_column="id", concurrency=2, batch_size=256,
                                  base_url=base, model="bench"), flush=True)
"""


def _resume_row(figure: Figure, server: RateLimitedServer, count: int) -> None:
    row = Row(f"Ray Data embed_to_parquet, SIGKILL at 50% of {count:,}, rerun", "hfbridge", "ray")
    figure.rows.append(row)
    server.configure(rate=100, latency=0.02, burst=1.0, count_texts=False)
    with tempfile.TemporaryDirectory(prefix="hfbridge-bench-resume-") as out:
        command = [sys.executable, "-c", _KILLED, server.base, out, str(count)]
        job = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 300
        while server.stats().get("texts", 0) < count // 2 and time.monotonic() < deadline:
            if job.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        at_kill = server.stats().get("texts", 0)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip
    if done.returncode != 0:
        row.status, row.detail = "failed", done.stderr.strip().splitlines()[-1][:200]
        return
    again = server.stats()["texts"] - count
    row.record("again", [float(again)])
    row.record("lost", [0.0])
    row.detail = f"{at_kill:,} embedded when killed; {again:,} embedded again on the rerun"


def run(server: Server, settings: Settings) -> Figure:
    smoke = settings.smoke
    figure = Figure(
        key="bulk",
        title="8. Bulk embeddings at a rate limit (share of the allowed rate, texts lost)",
        columns=[
            Column("share", "share of allowed rate", "", "higher"),
            Column("lost", "texts lost", "texts"),
            Column("seconds", "wall s", "s"),
            Column("rate_limited", "429s", "answers"),
            Column("texts_s", "texts/s", "texts/s", "higher"),
            Column("peak_mb", "peak RSS MiB per worker", "MiB"),
            Column("again", "embedded again", "texts"),
        ],
        primary="share",
        params={
            "latency": f"{LATENCY * 1000:.0f} ms",
            "burst": "1 s of the rate (STRICT rows: none, one token)",
            "retry_after": "1 s", "texts per request": BATCH,
        },
        notes=[
            (
                "share counts from the first to the last success (process start and imports "
                "excluded); the bucket starts full, so a short job's burst is part of what it "
                "could grant."
            ),
            (
                "Anchors run the issue's job (3,200 texts at 10 req/s) with their own defaults; "
                "HuggingFaceEndpointEmbeddings and the LlamaIndex HF API embedding go to the "
                "server's feature-extraction route, OpenAIEmbeddings to /v1/embeddings."
            ),
            (
                "The Ray scale rows share this machine's 2 cores with the nginx server, the "
                "driver and other work: more actors than cores add no speed here."
            ),
            (
                "STRICT rows (issue 15 follow-up, rate pacing): a one-token bucket refuses any two "
                "requests that reach the server closer than 1/R apart, so at 100 and 1,000 req/s "
                "(10 and 1 ms) the scheduling jitter of the client and server processes on this "
                "machine's 2 shared cores is of the order of the interval itself, and these rows "
                "measure the machine's load as much as the client. The same control law on a fake "
                "clock (tests/transport/test_pacing.py) gives 0.86 / 0.91 / 0.82 at 10 / 100 / "
                "1,000 req/s; before pacing, 0.10 at 10 req/s."
            ),
        ],
        extra={"ratios": False},
    )
    with RateLimitedServer(rate=10, latency=LATENCY) as limited:
        for rate in (10, 100, 1000):
            seconds = 2.0 if smoke else (SECONDS if rate < 1000 else SECONDS / 2)
            count = int(rate * seconds) * BATCH
            _rate_row(figure, limited, f"hfbridge HFEmbeddings, {rate:,} req/s limit", "hfbridge",
                      rate, count)  # fmt: skip
        for rate in (10, 100, 1000):  # issue 15 follow-up: no burst, requests admitted evenly
            seconds = 2.0 if smoke else (SECONDS if rate < 1000 else SECONDS / 2)
            count = int(rate * seconds) * BATCH
            _rate_row(figure, limited, f"hfbridge HFEmbeddings, {rate:,} req/s STRICT limit",
                      "hfbridge", rate, count, burst=0.0)  # fmt: skip
        count = int(100 * (2 if smoke else SECONDS) * BATCH / 4)
        _rate_row(figure, limited, "hfbridge, 4 processes sharing a 100 req/s limit", "hfbridge",
                  100, count, processes=4)  # fmt: skip
        _rate_row(figure, limited, "Ray Data, 4 actors sharing a 100 req/s limit", "ray", 100,
                  count * 4)  # fmt: skip
        anchors = {
            "HuggingFaceEndpointEmbeddings (caller batches by 32)": "endpoint",
            "OpenAIEmbeddings(base_url, chunk_size=32)": "openai",
            "HuggingFaceInferenceAPIEmbedding": "llama-api",
        }
        for name, contender in anchors.items():
            _rate_row(figure, limited, f"{name}, 10 req/s limit", contender, 10,
                      320 if smoke else 3200)  # fmt: skip
        _resume_row(figure, limited, 2_000 if smoke else 20_000)
    _ray_scale_rows(figure, server, 5_000 if smoke else 1_000_000)
    return figure
