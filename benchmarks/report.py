"""Render the results: ``BENCHMARKS.md`` (tables, targets, machine) and a PNG per figure.

Ratios are cost ratios, the same way round everywhere: the row's cost divided by the reference's
(time per unit; for throughput, the reference's rate divided by the row's). 1.00 = same cost,
0.50 = half the cost, 2.00 = twice the cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK = "ok"
GROUP_ORDER = {"floor": 0, "raw": 1, "hfbridge": 2, "anchor": 3}
CHARTS = {
    "sync": "fig1_sync.png",
    "async": "fig2_async.png",
    "stream": "fig3_stream.png",
    "tools": "fig4_tools.png",
    "embed": "fig5_embed.png",
    "import": "fig6_import.png",
    "memory": "fig7_memory.png",
    "bulk": "fig8_bulk.png",
    "rerank": "fig9_rerank.png",
}
STYLES = {"floor": ":", "raw": "-.", "hfbridge": "-", "anchor": "--"}
COLOURS = {"floor": "#9e9e9e", "raw": "#5c6bc0", "hfbridge": "#ef6c00", "anchor": "#26a69a"}


# --- numbers --------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def column(figure: dict[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in figure["columns"] if c["key"] == key)


def cost_ratio(figure: dict[str, Any], key: str, value: float, reference: float) -> float | None:
    if not reference or not value:
        return None
    return reference / value if column(figure, key)["better"] == "higher" else value / reference


def row_value(figure: dict[str, Any], name: str, key: str | None = None) -> float | None:
    for row in figure["rows"]:
        if row["name"] == name and row["status"] == OK:
            return row["values"].get(key or figure["primary"])
    return None


def floor_of(figure: dict[str, Any], row: dict[str, Any], key: str | None = None) -> float | None:
    floors = figure.get("extra", {}).get("floors", {}).get(key or figure["primary"], {})
    entry = floors.get(row["family"])
    return entry["value"] if entry else None


def anchors(figure: dict[str, Any]) -> list[str]:
    return [row["name"] for row in figure["rows"] if row["group"] == "anchor"]


# --- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    text: str
    figure: str
    row: str
    check: Callable[[dict[str, Any], dict[str, Any]], tuple[float | None, str, bool | None]]


def _vs_floor(
    limit: float, key: str | None = None
) -> Callable[..., tuple[float | None, str, bool | None]]:
    def check(figure: dict[str, Any], row: dict[str, Any]) -> tuple[float | None, str, bool | None]:
        column_key = key or figure["primary"]
        value, floor = row["values"].get(column_key), floor_of(figure, row, column_key)
        if value is None or floor is None:
            return None, "no floor measured", None
        ratio = cost_ratio(figure, column_key, value, floor)
        return (
            ratio,
            f"{fmt(ratio)}x floor ({fmt(value)} vs {fmt(floor)})",
            ratio is not None and ratio <= limit,
        )

    return check


def _vs_row(
    reference: str, limit: float, key: str | None = None, *, below: bool = False
) -> Callable[..., tuple[float | None, str, bool | None]]:
    """The row's cost over another row's in the same run: ``<= limit`` (``below``: ``< limit``)."""

    def check(figure: dict[str, Any], row: dict[str, Any]) -> tuple[float | None, str, bool | None]:
        column_key = key or figure["primary"]
        value, other = row["values"].get(column_key), row_value(figure, reference, column_key)
        if value is None or other is None:
            return None, f"{reference} not measured", None
        ratio = cost_ratio(figure, column_key, value, other)
        note = f"{fmt(ratio)}x {reference} ({fmt(value)} vs {fmt(other)})"
        if ratio is None:
            return None, note, None
        return ratio, note, ratio < limit if below else ratio <= limit

    return check


def _at_least(limit: float, key: str) -> Callable[..., tuple[float | None, str, bool | None]]:
    def check(
        _figure: dict[str, Any], row: dict[str, Any]
    ) -> tuple[float | None, str, bool | None]:
        value = row["values"].get(key)
        if value is None:
            return None, f"not measured at {key[1:]} in flight (a --smoke run stops at 16)", None
        return value, f"{fmt(value)} req/s", value >= limit

    return check


def _import_budget(floor_name: str) -> Callable[..., tuple[float | None, str, bool | None]]:
    def check(figure: dict[str, Any], row: dict[str, Any]) -> tuple[float | None, str, bool | None]:
        value, floor = row["values"].get("ms"), row_value(figure, floor_name, "ms")
        if value is None or floor is None:
            return None, "floor not measured", None
        extra = value - floor
        return extra, f"{fmt(value)} ms = floor {extra:+.0f} ms", extra <= 60

    return check


def _flat(limit: float) -> Callable[..., tuple[float | None, str, bool | None]]:
    def check(figure: dict[str, Any], row: dict[str, Any]) -> tuple[float | None, str, bool | None]:
        per_1k = row["values"].get("kib_per_1k")
        tokens = figure.get("params", {}).get("tokens", 0)
        growth = None if per_1k is None else per_1k * tokens / 1000 / 1024
        note = f"{fmt(per_1k)} KiB per 1k chunks = {fmt(growth)} MiB over {tokens:,} chunks"
        note += f" ({row['detail']})" if row.get("detail") else ""
        floor = next(
            (r for r in figure["rows"] if r["group"] == "floor" and r["family"] == row["family"]),
            None,
        )
        if floor is not None and floor["status"] == OK:
            floor_rate = floor["values"].get("kib_per_1k")
            note += f"; the framework floor alone grows {fmt(floor_rate)} KiB per 1k chunks"
        return growth, note, growth is not None and growth < limit

    return check


def _share(limit: float) -> Callable[..., tuple[float | None, str, bool | None]]:
    def check(
        _figure: dict[str, Any], row: dict[str, Any]
    ) -> tuple[float | None, str, bool | None]:
        share, lost = row["values"].get("share"), row["values"].get("lost")
        if share is None:
            return None, "not measured", None
        return share, f"{fmt(share)} of the allowed rate, {fmt(lost)} lost", (
            share >= limit and lost == 0
        )

    return check


TARGETS = [
    Target(
        "HFClient sync round trip <= 1.1x raw httpx + json.loads",
        "sync",
        "hfbridge HFClient.request",
        _vs_floor(1.1),
    ),
    Target("sync call <= 1.2x floor (LangChain)", "sync", "hfbridge ChatHF.invoke", _vs_floor(1.2)),
    Target("sync call <= 1.2x floor (LlamaIndex)", "sync", "hfbridge HFLLM.chat", _vs_floor(1.2)),
    Target(
        "Responses call <= 1.2x our chat call (LangChain)",
        "sync",
        "hfbridge ChatHF.invoke (Responses API)",
        _vs_row("hfbridge ChatHF.invoke", 1.2),
    ),
    Target(
        "Responses call faster than ChatOpenAI(use_responses_api=True)",
        "sync",
        "hfbridge ChatHF.invoke (Responses API)",
        _vs_row("ChatOpenAI(use_responses_api=True).invoke", 1.0, below=True),
    ),
    Target(
        "async >= 1,500 req/s at 64 in flight (transport)",
        "async",
        "hfbridge AsyncHFClient.request",
        _at_least(1500, "c64"),
    ),
    Target(
        "async >= 1,500 req/s at 64 in flight (LangChain)",
        "async",
        "hfbridge ChatHF.ainvoke",
        _at_least(1500, "c64"),
    ),
    Target(
        "async >= 1,500 req/s at 64 in flight (LlamaIndex)",
        "async",
        "hfbridge HFLLM.achat",
        _at_least(1500, "c64"),
    ),
    Target(
        "stream <= 1.3x floor per chunk, 200 chunks (LangChain)",
        "stream",
        "hfbridge ChatHF.stream",
        _vs_floor(1.3, "us_chunk_200"),
    ),
    Target(
        "stream <= 1.3x floor per chunk, 5,000 chunks (LangChain)",
        "stream",
        "hfbridge ChatHF.stream",
        _vs_floor(1.3, "us_chunk_5000"),
    ),
    Target(
        "stream <= 1.3x floor per chunk, 200 chunks (LlamaIndex)",
        "stream",
        "hfbridge HFLLM.stream_chat",
        _vs_floor(1.3, "us_chunk_200"),
    ),
    Target(
        "stream <= 1.3x floor per chunk, 5,000 chunks (LlamaIndex)",
        "stream",
        "hfbridge HFLLM.stream_chat",
        _vs_floor(1.3, "us_chunk_5000"),
    ),
    *(
        target
        for column, size in (("us_chunk_200", "200"), ("us_chunk_5000", "5,000"))
        for target in (
            Target(
                f"Responses stream <= 1.2x our chat stream per chunk, {size} chunks",
                "stream",
                "hfbridge ChatHF.stream (Responses API)",
                _vs_row("hfbridge ChatHF.stream", 1.2, column),
            ),
            Target(
                f"Responses stream faster than ChatOpenAI's per chunk, {size} chunks",
                "stream",
                "hfbridge ChatHF.stream (Responses API)",
                _vs_row("ChatOpenAI(use_responses_api=True).stream", 1.0, column, below=True),
            ),
        )
    ),
    Target(
        "embeddings <= 1.1x server-bound (LangChain)",
        "embed",
        "hfbridge HFEmbeddings.embed_documents",
        _vs_floor(1.1),
    ),
    Target(
        "embeddings <= 1.1x server-bound (LlamaIndex)",
        "embed",
        "hfbridge HFEmbedding.get_text_embedding_batch",
        _vs_floor(1.1),
    ),
    Target(
        "rerank 1,000 documents <= 1.1x server-bound (LangChain)",
        "rerank",
        "hfbridge HFReranker.compress_documents",
        _vs_floor(1.1),
    ),
    Target(
        "rerank 1,000 documents <= 1.1x server-bound (LlamaIndex)",
        "rerank",
        "hfbridge HFRerank.postprocess_nodes",
        _vs_floor(1.1),
    ),
    Target(
        "import hfbridge.langchain <= langchain_core + 60 ms",
        "import",
        "hfbridge.langchain (ChatHF, HFEmbeddings)",
        _import_budget("langchain_core (BaseChatModel, Embeddings)"),
    ),
    Target(
        "import hfbridge.llama_index <= llama_index.core + 60 ms",
        "import",
        "hfbridge.llama_index (HFLLM, HFEmbedding)",
        _import_budget("llama_index.core"),
    ),
    Target("streaming memory flat (LangChain)", "memory", "hfbridge ChatHF.stream", _flat(16.0)),
    Target(
        "streaming memory flat (LlamaIndex)", "memory", "hfbridge HFLLM.stream_chat", _flat(16.0)
    ),
    Target("streaming memory flat (transport)", "memory", "hfbridge HFClient.stream", _flat(16.0)),
    *(
        Target(
            f"bulk at a {rate} req/s limit >= 0.9 of it, 0 lost",
            "bulk",
            f"hfbridge HFEmbeddings, {rate} req/s limit",
            _share(0.9),
        )
        for rate in ("10", "100", "1,000")
    ),
    Target(
        "4 processes on one limit >= 0.85, 0 lost",
        "bulk",
        "hfbridge, 4 processes sharing a 100 req/s limit",
        _share(0.85),
    ),
    Target(
        "Ray Data, 4 actors on one limit >= 0.85, 0 lost",
        "bulk",
        "Ray Data, 4 actors sharing a 100 req/s limit",
        _share(0.85),
    ),
]


def evaluate(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass / miss / not measured for each target."""
    out = []
    for target in TARGETS:
        figure = figures.get(target.figure)
        row = next((r for r in figure["rows"] if r["name"] == target.row), None) if figure else None
        if row is None or row["status"] != OK:
            why = "figure not run" if row is None else f"{row['status']}: {row['detail'][:120]}"
            out.append(
                {"target": target.text, "row": target.row, "result": "not measured", "detail": why}
            )
            continue
        _value, detail, passed = target.check(figure, row)
        result = "not measured" if passed is None else ("pass" if passed else "MISS")
        out.append({"target": target.text, "row": target.row, "result": result, "detail": detail})
    return out


# --- markdown -------------------------------------------------------------------------------------


def _status(row: dict[str, Any]) -> str:
    if row["status"] == OK:
        return row.get("detail") or ""
    return f"**{row['status']}**: {row['detail']}".replace("|", "/")


def plain_table(figure: dict[str, Any]) -> list[str]:
    """A table without ratio columns (for measures whose ratios mean nothing)."""
    head = ["contender", "kind", *(c["label"] for c in figure["columns"]), "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(figure["rows"], key=lambda r: GROUP_ORDER.get(r["group"], 9)):
        cells = [row["name"], row["group"]]
        cells += [fmt(row["values"].get(c["key"])) for c in figure["columns"]]
        lines.append("| " + " | ".join([*cells, _status(row)]) + " |")
    return lines


def figure_table(figure: dict[str, Any]) -> list[str]:
    primary = figure["primary"]
    if not figure.get("extra", {}).get("ratios", True):
        return plain_table(figure)
    refs = anchors(figure)
    head = ["contender", "kind", *(c["label"] for c in figure["columns"]), "runs", "x floor"]
    head += [f"x {name.split('.')[0].split(' (')[0]}" for name in refs]
    head.append("notes")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = sorted(figure["rows"], key=lambda r: GROUP_ORDER.get(r["group"], 9))
    for row in rows:
        cells = [row["name"], row["group"]]
        cells += [fmt(row["values"].get(c["key"])) for c in figure["columns"]]
        runs = len(row["runs"].get(primary, [])) if row["status"] == OK else 0
        cells.append(str(runs) if runs else "-")
        value = row["values"].get(primary)
        floor = floor_of(figure, row)
        ratio = cost_ratio(figure, primary, value, floor) if value and floor else None
        cells.append(fmt(ratio) if row["group"] not in ("floor",) else "-")
        for ref in refs:
            ref_value = row_value(figure, ref)
            anchored = (
                cost_ratio(figure, primary, value, ref_value) if value and ref_value else None
            )
            cells.append(fmt(anchored))
        cells.append(_status(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


INTRO = """# hfbridge benchmarks

Where hfbridge stands against what users would pick instead: the same work, the same run, real
servers on loopback. Rerun with `make bench` (full, a few minutes) or `make bench-smoke` (one
iteration: proves the suite runs, asserts nothing on time).
"""

HOW_TO_READ = """
## How to read the tables

- Each figure runs every contender for >= 5 repetitions (interleaved: repetition i of every
  contender before repetition i+1 of any) and reports the **median**; `runs` is how many.
- **Floor** = what the work cannot avoid: the raw HTTP client doing the same request (`raw httpx`
  sync, `raw aiohttp` async) plus, for an adapter, its framework's own cost with no I/O
  (`FakeListChatModel` for LangChain, `MockLLM` for LlamaIndex). For embeddings the floor is the
  server-bound reference; for imports, the framework's own import.
- **x floor** and **x anchor** are cost ratios: the row's time divided by the reference's (for
  req/s, the reference's rate divided by the row's). 0.50 = half the cost of the reference.
- A row marked *not available* could not be built here (an adapter not written yet, a library not
  installed); *failed* means it ran and broke, or gave a wrong answer: no row is ever dropped.
"""


def render_markdown(results: dict[str, Any], chart_prefix: str) -> str:
    meta = results["meta"]
    figures = results["figures"]
    machine = meta["machine"]
    out = [
        INTRO,
        f"- **Date**: {meta['date']}",
        f"- **Command**: `{meta['command']}`",
        f"- **Machine**: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        + machine["os"],
        (
            f"- **Load average** (1 min) at start / end: {meta['load_start']} / "
            f"{meta.get('load_end', '-')} (other work on the machine inflates absolute times; "
            "ratios from one interleaved run hold up better)"
        ),
        f"- **Python**: {meta['python']}; **server**: {meta['server']}",
        "- **Versions**: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
    ]
    headroom = meta.get("headroom")
    if headroom:
        out.append(
            f"- **Server headroom** (wrk, chat route, {int(headroom['connections'])} connections): "
            f"{headroom['requests_per_s']:,.0f} req/s, {headroom['latency_us']:,.0f} us mean "
            f"latency, {int(headroom['errors'])} errors: far faster than any client below."
        )
    out += [
        HOW_TO_READ,
        "## Targets",
        "",
        "| target | row | result | measured |",
        "|---|---|---|---|",
    ]
    for item in evaluate(figures):
        out.append(f"| {item['target']} | {item['row']} | {item['result']} | {item['detail']} |")
    for key, chart in CHARTS.items():
        figure = figures.get(key)
        if not figure:
            continue
        out += ["", f"## {figure['title']}", ""]
        if figure.get("params"):
            out.append(
                "Parameters: " + "; ".join(f"{k} = {v}" for k, v in figure["params"].items()) + "."
            )
            out.append("")
        out += figure_table(figure)
        for note in figure.get("notes", []):
            out += ["", f"> {note}"]
        out += ["", f"![{figure['title']}]({chart_prefix}{chart})"]
        when = f"Measured {figure.get('date', meta['date'])}"
        if figure.get("load") is not None:
            when += f", load average {figure['load']} at the start of the figure"
        if figure.get("seconds") is not None:
            when += f", in {figure['seconds']} s"
        out += ["", when + "."]
    return "\n".join(out) + "\n"


# --- charts ---------------------------------------------------------------------------------------


def _ok_rows(figure: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (r for r in figure["rows"] if r["status"] == OK),
        key=lambda r: (GROUP_ORDER.get(r["group"], 9), r["name"]),
    )


def _bars(ax: Any, figure: dict[str, Any], key: str) -> None:
    rows = _ok_rows(figure)
    missing = [r["name"] for r in figure["rows"] if r["status"] != OK]
    names = [r["name"] for r in rows] + [f"{n} (n/a)" for n in missing]
    values = [r["values"].get(key, 0.0) for r in rows] + [0.0] * len(missing)
    colours = [COLOURS.get(r["group"], "#000") for r in rows] + ["#ffffff"] * len(missing)
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    info = column(figure, key)
    ax.set_xlabel(
        f"{info['label']} ({'higher' if info['better'] == 'higher' else 'lower'} is better)"
    )
    for i, value in enumerate(values):
        if value:
            ax.text(value, i, f" {fmt(value)}", va="center", fontsize=6)


def render_chart(figure: dict[str, Any], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    key = figure["key"]
    if key == "async":
        fig, ax = plt.subplots(figsize=(12, 5))
        for i, row in enumerate(_ok_rows(figure)):
            levels = [n for n in (int(c["key"][1:]) for c in figure["columns"])
                      if row["values"].get(f"c{n}") is not None]  # fmt: skip
            ax.plot(levels, [row["values"][f"c{n}"] for n in levels], marker="o",
                    label=f"{row['name']} ({row['group']})", color=plt.cm.tab20(i % 20),
                    linestyle=STYLES.get(row["group"], "-"))  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("requests in flight")
        ax.set_ylabel("req/s (higher is better)")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    elif key == "memory" and figure.get("extra", {}).get("series"):
        fig, ax = plt.subplots(figsize=(12, 5))
        groups = {r["name"]: r["group"] for r in figure["rows"]}
        for i, (name, samples) in enumerate(figure["extra"]["series"].items()):
            group = groups.get(name, "")
            ax.plot([s[0] for s in samples], [s[1] for s in samples], marker=".",
                    label=f"{name} ({group})", color=plt.cm.tab10(i % 10),
                    linestyle=STYLES.get(group, "-"))  # fmt: skip
        ax.set_xlabel("chunks consumed")
        ax.set_ylabel("RSS MiB")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        keys = {
            "stream": ["us_chunk_200", "us_chunk_5000"],
            "embed": ["wall_s", "peak_mb"],
            "bulk": ["share", "texts_s"],
        }.get(key, [figure["primary"]])
        fig, axes = plt.subplots(
            1, len(keys), figsize=(7 * len(keys), 0.35 * len(figure["rows"]) + 1.5)
        )
        for ax, column_key in zip(axes if len(keys) > 1 else [axes], keys, strict=True):
            _bars(ax, figure, column_key)
    fig.suptitle(figure["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_charts(figures: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for key, name in CHARTS.items():
        if key in figures:
            render_chart(figures[key], directory / name)
            written.append(directory / name)
    return written
