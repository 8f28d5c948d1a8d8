"""Run the benchmark suite: ``python -m benchmarks.run [--smoke] [--only FIGURE,...]``.

Starts nginx on a free loopback port (installing nginx, njs and wrk with apt when missing), checks
with wrk that the server is far faster than any client, runs the figures, and writes
``benchmarks/results/latest.json``, the PNG charts and ``BENCHMARKS.md``. ``--smoke`` runs one short
iteration of everything and writes only to ``benchmarks/results/smoke.raw.json`` and a temporary
directory: it proves the suite runs, and never asserts on time. Exit status 1 means the suite
itself broke (a figure raised); a contender that fails is a row in the table, not an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import report, servers
from benchmarks.harness import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = {  # key -> module, in the order they run
    "sync": "fig_sync",
    "async": "fig_async",
    "stream": "fig_stream",
    "tools": "fig_tools",
    "embed": "fig_embed",
    "import": "fig_import",
    "memory": "fig_memory",
    "bulk": "fig_bulk",
    "rerank": "fig_rerank",
}
PACKAGES = [
    "hfbridge", "httpx", "aiohttp", "httpx-aiohttp", "langchain-core", "llama-index-core",
    "langchain-huggingface", "langchain-openai", "llama-index-llms-huggingface-api",
    "llama-index-embeddings-huggingface-api", "huggingface-hub", "openai",
    "llama-index-postprocessor-tei-rerank",
]  # fmt: skip


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(FIGURES)
    keys = list(FIGURES)
    chosen = []
    for part in text.split(","):
        item = part.strip().lower().removeprefix("fig").removeprefix("_")
        if item.isdigit() and 1 <= int(item) <= len(keys):
            item = keys[int(item) - 1]
        if item not in FIGURES:
            raise SystemExit(
                f"unknown figure {part!r}: choose from {', '.join(keys)} or 1-{len(keys)}"
            )
        chosen.append(item)
    return chosen


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "os": f"{platform.system()} {platform.release()}",
    }


def versions() -> dict[str, str]:
    return {name: _version(name) for name in PACKAGES}


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def nginx_version() -> str:
    done = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().replace("nginx version: ", "") + " + njs"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="one short iteration of everything")
    parser.add_argument(
        "--only", help="figures to run: sync,async,stream,tools,embed,import,memory,bulk or 1-8"
    )
    args = parser.parse_args(argv)
    chosen = parse_only(args.only)
    settings = Settings.create(smoke=args.smoke)
    started = time.perf_counter()
    servers.ensure_tools()
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.run"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": machine(),
        "python": platform.python_version(),
        "versions": versions(),
        "server": nginx_version(),
        "load_start": load(),
        "smoke": args.smoke,
    }
    figures: dict[str, Any] = {}
    broken: list[str] = []
    big = 5_000 if args.smoke else 1_000_000
    with servers.nginx(big_tokens=big) as server:
        print(f"[bench] nginx on {server.url}; checking headroom with wrk", flush=True)
        meta["headroom"] = servers.headroom(server, seconds=1 if args.smoke else 3)
        print(f"[bench] server: {meta['headroom']['requests_per_s']:,.0f} req/s", flush=True)
        for key in chosen:
            t0, load_before = time.perf_counter(), load()
            print(f"[bench] figure {key} ...", flush=True)
            try:
                module = importlib.import_module(f"benchmarks.{FIGURES[key]}")
                figure = module.run(server, settings).to_json()
            except Exception:
                traceback.print_exc()
                broken.append(key)
                continue
            figure["date"], figure["load"] = meta["date"], load_before
            figure["seconds"] = round(time.perf_counter() - t0, 1)
            figures[key] = figure
            for row in figure["rows"]:
                value = row["values"].get(figure["primary"])
                shown = (
                    report.fmt(value)
                    if row["status"] == "ok"
                    else f"{row['status']}: {row['detail'][:90]}"
                )
                print(f"    {row['name'][:55]:55s} {shown}", flush=True)
            print(f"[bench] figure {key} done in {figure['seconds']} s", flush=True)
    meta["load_end"] = load()
    meta["seconds"] = round(time.perf_counter() - started, 1)
    write(meta, figures, smoke=args.smoke)
    print(f"[bench] finished in {meta['seconds']} s", flush=True)
    if broken:
        print(f"[bench] figures that raised: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


def write(meta: dict[str, Any], figures: dict[str, Any], *, smoke: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if smoke:
        results = {"meta": meta, "figures": figures}
        (RESULTS / "smoke.raw.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="hfbridge-bench-smoke-") as tmp:
            report.render_charts(figures, Path(tmp))
            markdown = report.render_markdown(results, "")
            (Path(tmp) / "BENCHMARKS.md").write_text(markdown, encoding="utf-8")
        print("[bench] smoke run: tables and charts rendered (not kept); results in "
              f"{RESULTS / 'smoke.raw.json'}", flush=True)  # fmt: skip
        return
    latest = RESULTS / "latest.json"
    previous: dict[str, Any] = {}
    if latest.exists():
        previous = json.loads(latest.read_text(encoding="utf-8")).get("figures", {})
    merged = {**previous, **figures}  # a partial run (--only) keeps the other figures' last results
    results = {"meta": meta, "figures": merged}
    latest.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    report.render_charts(merged, RESULTS)
    markdown = report.render_markdown(results, "benchmarks/results/")
    (ROOT / "BENCHMARKS.md").write_text(markdown, encoding="utf-8")
    print(f"[bench] wrote {latest}, the charts and BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    if shutil.which("nginx") is None and os.geteuid() != 0:
        print("[bench] nginx is missing and apt needs root: install nginx-light, "
              "libnginx-mod-http-js and wrk", file=sys.stderr)  # fmt: skip
    sys.exit(main())
