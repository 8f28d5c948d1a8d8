"""Figure 6: import time of each adapter module, in a fresh interpreter each time (median of 10).

Measured inside the child as the time of the ``import`` statement alone (interpreter start-up
excluded), so the figure is what ``import X`` adds to a program.
"""

from __future__ import annotations

import compileall
import contextlib
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.child import ROOT
from benchmarks.harness import FAILED, OK, UNAVAILABLE, Column, Figure, Row, Settings

RUNS = 10
SNIPPET = (
    "import time, sys\n"
    "t = time.perf_counter()\n"
    "{statement}\n"
    "sys.stdout.write(repr(time.perf_counter() - t))\n"
)
LC_FLOOR = "langchain_core (BaseChatModel, Embeddings)"
LI_FLOOR = "llama_index.core"

# (row name, module, group, family)
MODULES = [
    ("httpx", "httpx", "raw", "transport"),
    ("aiohttp", "aiohttp", "raw", "transport"),
    # langchain_core loads lazily: the floor is what an adapter's base classes pull in (langsmith)
    (
        LC_FLOOR,
        (
            "from langchain_core.language_models import BaseChatModel\n"
            "from langchain_core.embeddings import Embeddings"
        ),
        "floor",
        "langchain",
    ),
    (LI_FLOOR, "llama_index.core", "floor", "llama_index"),
    ("hfbridge", "hfbridge", "hfbridge", "transport"),
    ("hfbridge.transport", "hfbridge.transport", "hfbridge", "transport"),
    (
        "hfbridge.langchain (ChatHF, HFEmbeddings)",
        "hfbridge.langchain.chat_models, hfbridge.langchain.embeddings",
        "hfbridge",
        "langchain",
    ),
    (
        "hfbridge.llama_index (HFLLM, HFEmbedding)",
        "hfbridge.llama_index.llms, hfbridge.llama_index.embeddings",
        "hfbridge",
        "llama_index",
    ),
    ("langchain_huggingface", "langchain_huggingface", "anchor", "langchain"),
    ("langchain_openai", "langchain_openai", "anchor", "langchain"),
    (
        "llama_index.llms.huggingface_api",
        "llama_index.llms.huggingface_api",
        "anchor",
        "llama_index",
    ),
    (
        "llama_index.embeddings.huggingface_api",
        "llama_index.embeddings.huggingface_api",
        "anchor",
        "llama_index",
    ),
    ("huggingface_hub (InferenceClient)", "huggingface_hub.inference._client", "anchor", "hub"),
]
FLOORS = {"langchain": LC_FLOOR, "llama_index": LI_FLOOR}
TARGET_MS = 60.0


def import_seconds(module: str) -> float:
    """One fresh interpreter's time to import ``module`` (or run an import statement)."""
    statement = module if module.startswith(("import ", "from ")) else f"import {module}"
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(statement=statement)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ImportError(last)
    return float(done.stdout)


@contextlib.contextmanager
def compiled_hfbridge() -> Iterator[None]:
    """hfbridge's bytecode compiled for the figure, as an installed wheel has it.

    Every other package here was compiled when pip installed it; hfbridge is installed from its
    source tree, and with ``PYTHONDONTWRITEBYTECODE`` set (as on this machine) every import would
    compile it again, which measured 28 ms of the 87 ms it adds to langchain_core. Caches made
    here are removed afterwards; caches that were there are left alone.
    """
    package = Path(ROOT, "src", "hfbridge")
    before = set(package.rglob("__pycache__"))
    compileall.compile_dir(package, quiet=1)
    try:
        yield
    finally:
        for cache in set(package.rglob("__pycache__")) - before:
            shutil.rmtree(cache, ignore_errors=True)


def _measure(rows: list[tuple[Row, str]], runs: int, samples: dict[str, list[float]]) -> None:
    # interleave the runs: a slow moment of the machine hits every module alike
    for _ in range(runs):
        for row, module in rows:
            if row.status != OK:
                continue
            try:
                samples.setdefault(row.name, []).append(import_seconds(module) * 1e3)
            except ImportError as exc:
                row.status = UNAVAILABLE if "No module named" in str(exc) else FAILED
                row.detail = str(exc)[:300]
                if row.group == "hfbridge" and row.status == UNAVAILABLE:
                    row.detail = f"not available yet ({row.detail})"
            except Exception as exc:
                row.status, row.detail = FAILED, str(exc)[:300]


def run(_server: object, settings: Settings) -> Figure:
    runs = 1 if settings.smoke else RUNS
    figure = Figure(
        key="import",
        title="6. Import time (fresh interpreter)",
        columns=[Column("ms", "ms", "ms")],
        primary="ms",
        params={"runs": runs, "python": sys.version.split()[0]},
        notes=[
            (
                "Floor per family = the framework's own import (langchain_core's BaseChatModel and "
                "Embeddings, llama_index.core); the target is floor + 60 ms, not a ratio."
            ),
            (
                "hfbridge's bytecode is compiled before the runs, as a wheel install would have "
                "it (every other package was compiled by pip)."
            ),
        ],
    )
    rows = [(Row(name, group, family), module) for name, module, group, family in MODULES]
    figure.rows = [row for row, _ in rows]
    samples: dict[str, list[float]] = {}
    with compiled_hfbridge():
        _measure(rows, runs, samples)
    for row, _ in rows:
        if row.status == OK and samples.get(row.name):
            row.record("ms", samples[row.name])
    floors = {}
    for family, name in FLOORS.items():
        floor_ms = next(
            (r.values["ms"] for r in figure.rows if r.name == name and r.status == OK), None
        )
        if floor_ms is not None:
            floors[family] = {"value": floor_ms, "from": [name]}
    figure.extra["floors"] = {"ms": floors}
    figure.extra["spread"] = {
        name: statistics.pstdev(values) for name, values in samples.items() if len(values) > 1
    }
    return figure
