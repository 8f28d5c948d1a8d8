"""The ``hfbridge`` command: browse the catalog, check a model, show the aliases, run the demo.

::

    hfbridge models [--provider P] [--task T] [--tools] [--search S] [--sort price|latency|...]
    hfbridge status MODEL
    hfbridge aliases [--kind chat|embeddings|rerank] [--check]
    hfbridge demo

Tables use ``rich`` when it is installed (``pip install 'hfbridge[cli]'``) and the output is a
terminal; otherwise plain aligned text (``--format plain``), or JSON (``--format json``).
Exit codes: 0 success, 1 the catalog could not answer or ``aliases --check`` found problems,
2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, get_args

from hfbridge.catalog import (
    Catalog,
    HubModel,
    ModelKind,
    RouterModel,
    RouterProvider,
    alias_sources,
    capabilities,
    check_aliases,
    default_catalog,
    resolve_model,
)
from hfbridge.catalog.aliases import RERANK_PIPELINE_TAG
from hfbridge.catalog.profile import router_profile
from hfbridge.errors import HFConfigError, HFError

_ROUTER_TASKS = frozenset({"chat", "conversational", "chat-completion", "text-generation"})
_VISION_TASK = "image-text-to-text"
_RERANK_TASK = "rerank"
_WIDE = 200  # columns for rich when the output is not a terminal (no truncated model ids)
_HUB_LIMIT = 50
_USAGE = 2


# --- tables --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _tokens(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _ms(value: Any) -> str:
    return f"{value:.0f} ms" if isinstance(value, float) else "-"


def _rate(value: Any) -> str:
    return f"{value:.0f} tok/s" if isinstance(value, float) else "-"


def _price(value: Any) -> str:
    low, high = value if isinstance(value, tuple) else (None, None)
    if low is None and high is None:
        return "-"
    return f"{'-' if low is None else f'${low:g}'} / {'-' if high is None else f'${high:g}'}"


@dataclass(frozen=True)
class Column:
    """A table column: its header, the record key it shows, and how."""

    header: str
    key: str
    show: Callable[[Any], str] = _text
    right: bool = False


def _plain(
    title: str, columns: Sequence[Column], records: list[dict[str, Any]], out: TextIO
) -> None:
    cells = [[column.show(record.get(column.key)) for column in columns] for record in records]
    widths = [
        max([len(column.header), *(len(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if column.right else value.ljust(width)
            for value, width, column in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(title, file=out)
    print(line([column.header for column in columns]), file=out)
    print(line(["-" * width for width in widths]), file=out)
    for row in cells:
        print(line(row), file=out)


def _rich(
    title: str, columns: Sequence[Column], records: list[dict[str, Any]], out: TextIO
) -> bool:
    try:
        from rich.console import Console  # noqa: PLC0415 - optional extra, loaded on use
        from rich.table import Table  # noqa: PLC0415
    except ImportError:
        return False
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.header, justify="right" if column.right else "left", no_wrap=True)
    for record in records:
        table.add_row(*(column.show(record.get(column.key)) for column in columns))
    console = Console(file=out, width=None if out.isatty() else _WIDE, highlight=False)
    console.print(table)
    return True


def render(
    title: str, columns: Sequence[Column], records: list[dict[str, Any]], out: TextIO, fmt: str
) -> None:
    """Print ``records`` as a table (``rich`` / ``plain``, ``auto`` picks) or as JSON."""
    if fmt == "json":
        json.dump(records, out, indent=2, default=str)
        print(file=out)
        return
    wants_rich = fmt == "rich" or (fmt == "auto" and out.isatty())
    if not (wants_rich and _rich(title, columns, records, out)):
        _plain(title, columns, records, out)


# --- models / status -----------------------------------------------------------------------------

PROVIDER_COLUMNS = (
    Column("model", "model"),
    Column("provider", "provider"),
    Column("status", "status"),
    Column("context", "context_length", _tokens, right=True),
    Column("price in/out (USD per 1M)", "price", _price, right=True),
    Column("latency", "first_token_latency_ms", _ms, right=True),
    Column("throughput", "throughput", _rate, right=True),
    Column("tools", "supports_tools"),
    Column("schema", "supports_structured_output"),
)
MAPPING_COLUMNS = (
    Column("model", "model"),
    Column("provider", "provider"),
    Column("status", "status"),
    Column("task", "task"),
    Column("provider id", "provider_id"),
)


def _provider_record(model: RouterModel, entry: RouterProvider) -> dict[str, Any]:
    pricing = entry.pricing
    price = (pricing.input, pricing.output) if pricing is not None else (None, None)
    return {
        "model": model.id,
        "provider": entry.provider,
        "status": entry.status,
        "context_length": entry.context_length,
        "price": price,
        "first_token_latency_ms": entry.first_token_latency_ms,
        "throughput": entry.throughput,
        "supports_tools": entry.supports_tools,
        "supports_structured_output": entry.supports_structured_output,
    }


def _mapping_records(model: HubModel, provider: str | None) -> list[dict[str, Any]]:
    return [
        {"model": model.id, "provider": entry.provider, "status": entry.status,
         "task": entry.task, "provider_id": entry.provider_id}
        for entry in model.inference_provider_mapping
        if provider is None or entry.provider == provider
    ]  # fmt: skip


def _sort_key(order: str) -> Callable[[dict[str, Any]], tuple[float, float]]:
    def missing_last(value: Any, sign: float = 1.0) -> float:
        return sign * value if isinstance(value, (int, float)) else math.inf

    def key(record: dict[str, Any]) -> tuple[float, float]:
        if order == "price":
            low, high = record["price"]
            return missing_last(high), missing_last(low)
        if order == "latency":
            return missing_last(record["first_token_latency_ms"]), 0.0
        return missing_last(record["throughput"], -1.0), 0.0

    return key


def cmd_models(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    """``hfbridge models``: one row per (model, provider)."""
    task = args.task
    title = f"Hub models for task {task!r}"
    if task == _RERANK_TASK:
        task = RERANK_PIPELINE_TAG
        title = (
            f"Hub rerank models (pipeline tag {task!r}; cross-encoders tagged text-classification "
            "are not told apart from other classifiers by the catalog)"
        )
    if task is not None and task not in _ROUTER_TASKS and task != _VISION_TASK:
        if args.tools or args.sort:
            raise HFConfigError(
                "--tools and --sort use the router's chat catalogue: drop them for --task "
                f"{task!r} (Hub models carry no prices, latency or tool support)."
            )
        hub = catalog.hub_models(
            inference_provider=args.provider or "all", pipeline_tag=task, search=args.search,
            limit=args.limit or _HUB_LIMIT, expand=("inferenceProviderMapping", "pipeline_tag"),
            refresh=args.refresh,
        )  # fmt: skip
        records = [record for model in hub for record in _mapping_records(model, args.provider)]
        render(title, MAPPING_COLUMNS, records, out, args.format)
        return 0
    records = []
    for model in catalog.router_models(refresh=args.refresh):
        if args.search and args.search.lower() not in model.id.lower():
            continue
        modalities = model.architecture.input_modalities if model.architecture else []
        if task == _VISION_TASK and "image" not in modalities:
            continue
        for entry in model.providers:
            if args.provider and entry.provider != args.provider:
                continue
            if args.tools and not (entry.is_live and entry.supports_tools):
                continue
            records.append(_provider_record(model, entry))
    if args.sort:
        records.sort(key=_sort_key(args.sort))
    if args.limit:
        records = records[: args.limit]
    render("Router chat models", PROVIDER_COLUMNS, records, out, args.format)
    return 0


def _status_text(hub: HubModel | None, router: RouterModel | None, *, failed: bool) -> str:
    if hub is not None:
        return hub.status
    if router is not None:  # the Hub did not answer: the router's health checks tell the same
        return "warm" if router.live_providers else "cold"
    return "unknown" if failed else "not found"


def cmd_status(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    """``hfbridge status MODEL``: warm/cold, the LangChain profile, each router provider's row."""
    spec = resolve_model(args.model, kind="chat")
    failures: list[HFError] = []
    hub: HubModel | None = None
    router: RouterModel | None = None
    try:
        hub = catalog.hub_model(spec.model_id, refresh=args.refresh)
    except HFError as exc:
        failures.append(exc)
    try:
        router = catalog.router_model(spec.model_id, refresh=args.refresh)
    except HFError as exc:
        failures.append(exc)
    if len(failures) == 2:  # noqa: PLR2004 - both sources failed
        raise failures[0]
    alias = f" (alias {spec.alias!r})" if spec.alias else ""
    status = _status_text(hub, router, failed=bool(failures))
    profile = router_profile(capabilities(spec, catalog=catalog)) if router is not None else None
    if args.format == "json":
        payload = {
            "model": spec.model_id,
            "status": status,
            "profile": profile,
            "providers": [_provider_record(router, entry) for entry in router.providers]
            if router
            else [],
            "hub_mapping": _mapping_records(hub, None) if hub else [],
        }
        json.dump(payload, out, indent=2, default=str)
        print(file=out)
        return 0
    print(f"{spec.model_id}{alias}: {status}", file=out)
    if profile is not None:
        shown = ", ".join(f"{key}={value}" for key, value in profile.items())
        print(f"LangChain profile (ChatHF.refresh_profile()): {shown}", file=out)
    if router is not None:
        records = [_provider_record(router, entry) for entry in router.providers]
        render("Router providers", PROVIDER_COLUMNS, records, out, args.format)
    elif hub is not None and hub.inference_provider_mapping:
        render(
            "Hub provider mapping", MAPPING_COLUMNS, _mapping_records(hub, None), out, args.format
        )
    else:
        print("No provider serves this model for chat.", file=out)
    for failure in failures:
        print(f"(partial answer: {failure.message})", file=out)
    return 0 if hub is not None or router is not None else 1


# --- aliases -------------------------------------------------------------------------------------

ALIAS_COLUMNS = (
    Column("kind", "kind"),
    Column("alias", "alias"),
    Column("model", "model"),
    Column("source", "source"),
)


def cmd_aliases(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    """``hfbridge aliases``: the resolved tables and where each entry came from."""
    kinds: list[ModelKind] = [args.kind] if args.kind else list(get_args(ModelKind))
    records = [
        {"kind": kind, "alias": alias, "model": model, "source": source}
        for kind in kinds
        for alias, (model, source) in alias_sources(kind).items()
    ]
    render("Aliases", ALIAS_COLUMNS, records, out, args.format)
    if not args.check:
        return 0
    issues = [issue for issue in check_aliases(catalog, warn=False) if issue.kind in kinds]
    for issue in issues:
        print(f"problem: {issue.message}", file=out)
    if not issues:
        print("check: every alias points at a served model.", file=out)
    return 1 if issues else 0


def cmd_demo(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    """``hfbridge demo``: run :func:`hfbridge.demo.main` (imported on use: it needs the extras)."""
    del args, catalog, out
    importlib.import_module("hfbridge.demo").main()
    return 0


# --- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hfbridge``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("auto", "rich", "plain", "json"), default="auto",
                        help="output format (auto: rich on a terminal, else plain)")  # fmt: skip
    common.add_argument("--refresh", action="store_true", help="ignore the cache and refetch")
    common.add_argument("--offline", action="store_true", help="answer from the cache only")

    parser = argparse.ArgumentParser(
        prog="hfbridge",
        description="Hugging Face models and providers, for LangChain and LlamaIndex.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser("models", parents=[common], help="list models and their providers")
    models.add_argument("--provider", help="only this provider (e.g. groq)")
    models.add_argument(
        "--task",
        help="pipeline tag, or 'rerank' for text-ranking models (default: chat models from the "
        "router)",
    )
    models.add_argument(
        "--tools", action="store_true", help="only live providers with tool calling"
    )
    models.add_argument("--search", help="substring of the model id")
    models.add_argument("--sort", choices=("price", "latency", "throughput"), help="row order")
    models.add_argument("--limit", type=int, help="at most this many rows")
    models.set_defaults(handler=cmd_models)

    status = commands.add_parser(
        "status", parents=[common], help="warm/cold and providers of a model"
    )
    status.add_argument("model", help="model id or chat alias")
    status.set_defaults(handler=cmd_status)

    aliases = commands.add_parser(
        "aliases", parents=[common], help="the alias tables and their sources"
    )
    aliases.add_argument("--kind", choices=get_args(ModelKind))
    aliases.add_argument("--check", action="store_true", help="check them against the catalog")
    aliases.set_defaults(handler=cmd_aliases)

    demo = commands.add_parser("demo", help="run the LangChain + LlamaIndex demo")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(
    argv: Sequence[str] | None = None, *, catalog: Catalog | None = None, out: TextIO | None = None
) -> int:
    """Run ``hfbridge``; returns the exit code. ``catalog`` and ``out`` are injectable (tests)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.command != "demo" and getattr(args, "limit", None) is not None and args.limit < 1:
        parser.error("--limit must be a positive integer")
    if catalog is None:
        catalog = Catalog(offline=True) if getattr(args, "offline", False) else default_catalog()
    try:
        code: int = args.handler(args, catalog, out)
    except HFConfigError as exc:
        print(f"hfbridge: error: {exc.message}", file=sys.stderr)
        return _USAGE
    except HFError as exc:
        print(f"hfbridge: error: {exc.message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
