"""What every figure shares: contenders, result rows, timing loops, and availability handling.

A contender whose library is missing, or whose hfbridge adapter has not landed yet, becomes a row
marked "not available" with the reason; one that fails while running becomes a row marked "failed"
with the error. No contender is ever dropped from a table.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

OK, UNAVAILABLE, FAILED = "ok", "not available", "failed"


@dataclass(frozen=True)
class Settings:
    """How hard a run works: the full run, or the one-iteration smoke run CI uses."""

    smoke: bool = False
    reps: int = 5
    rep_seconds: float = 0.3  # target duration of one timed repetition
    async_seconds: float = 0.25  # duration of one async repetition (every worker sends >= 1)
    warmup_seconds: float = 0.15

    @classmethod
    def create(cls, *, smoke: bool) -> Settings:
        if smoke:
            return cls(
                smoke=True, reps=1, rep_seconds=0.02, async_seconds=0.02, warmup_seconds=0.01
            )
        return cls()


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str
    better: str = "lower"  # or "higher"


@dataclass
class Row:
    """One contender's results in one figure."""

    name: str
    group: str  # floor | raw | hfbridge | anchor
    family: str  # transport | langchain | llama_index | hub
    status: str = OK
    detail: str = ""
    values: dict[str, float] = field(default_factory=dict)  # column key -> median
    runs: dict[str, list[float]] = field(default_factory=dict)  # column key -> every repetition

    def record(self, column: str, samples: Sequence[float]) -> None:
        self.runs[column] = [float(x) for x in samples]
        self.values[column] = float(statistics.median(samples))

    def fail(self, exc: BaseException) -> None:
        self.status = FAILED
        self.detail = describe(exc)


@dataclass
class Figure:
    """One figure's table: its columns, the primary column ratios are computed on, and rows."""

    key: str
    title: str
    columns: list[Column]
    primary: str
    rows: list[Row] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Contender:
    """A named way of doing a figure's work; ``make`` builds the operation (imports inside)."""

    name: str
    group: str
    family: str
    make: Callable[[], Any]


def describe(exc: BaseException) -> str:
    """A one-line account of an error: its type, message, and where in the code it came from."""
    message = " ".join(str(exc).split())[:300]
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at {last.filename.rsplit('site-packages/', 1)[-1]}:{last.lineno})"
    return f"{type(exc).__name__}: {message}{where}"


def build(contender: Contender) -> tuple[Row, Any]:
    """Build a contender's operation; a row that says why when it cannot be built."""
    row = Row(contender.name, contender.group, contender.family)
    try:
        return row, contender.make()
    except ImportError as exc:
        row.status = UNAVAILABLE
        if contender.group == "hfbridge":
            row.detail = f"not available yet ({describe(exc)})"
        else:
            row.detail = f"not installed: pip install -e '.[bench]' ({describe(exc)})"
    except Exception as exc:
        row.status = UNAVAILABLE
        row.detail = f"could not be built: {describe(exc)}"
    return row, None


def check(row: Row, got: Any, expected: Any) -> bool:
    """Mark ``row`` failed when a contender's answer is wrong (a fast wrong answer is no result)."""
    if got == expected:
        return True
    row.status = FAILED
    row.detail = f"wrong answer: expected {str(expected)[:80]!r}, got {str(got)[:80]!r}"
    return False


# --- timing ---------------------------------------------------------------------------------------


def calibrate(call: Callable[[], Any], settings: Settings, minimum: int = 3) -> int:
    """Warm ``call`` up and return how many calls fill one repetition (smoke: one, no warm-up)."""
    if settings.smoke:
        return 1
    start = time.perf_counter()
    count = 0
    while count < minimum or time.perf_counter() - start < settings.warmup_seconds:
        call()
        count += 1
    per_call = (time.perf_counter() - start) / count
    return max(minimum, round(settings.rep_seconds / per_call))


def time_calls(call: Callable[[], Any], count: int) -> float:
    """Seconds per call over ``count`` back-to-back calls."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


async def throughput(
    call: Callable[[], Awaitable[Any]], in_flight: int, seconds: float, minimum: int = 1
) -> float:
    """Requests per second with ``in_flight`` requests always outstanding for about ``seconds``.

    Every worker finishes the request it has started, so the count includes them all and the time
    runs to the last answer.
    """
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        mine = 0
        while mine < minimum or time.perf_counter() < deadline:
            await call()
            mine += 1
            done += 1

    gc.collect()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


def interleaved(
    rows_ops: list[tuple[Row, Any]],
    settings: Settings,
    measure: Callable[[Row, Any, int], None],
) -> None:
    """Run repetition ``i`` of every contender before repetition ``i + 1`` of any.

    Spreading the repetitions this way keeps a slow drift of the machine from favouring whoever ran
    first. ``measure(row, op, rep)`` records one repetition; an error marks the row failed.
    """
    for rep in range(settings.reps):
        for row, op in rows_ops:
            if row.status != OK:
                continue
            try:
                measure(row, op, rep)
            except Exception as exc:
                row.fail(exc)


# --- floors ---------------------------------------------------------------------------------------


def value_of(figure: Figure, name: str, column: str | None = None) -> float | None:
    """The median of row ``name`` in ``column`` (default: the primary one), if it ran."""
    for row in figure.rows:
        if row.name == name and row.status == OK:
            return row.values.get(column or figure.primary)
    return None


def set_floors(
    figure: Figure,
    raw: str,
    fakes: dict[str, str],
    *,
    rate: bool = False,
    column: str | None = None,
) -> None:
    """Record each family's floor: the raw round trip plus the framework's own cost per call.

    ``fakes`` maps a family (``langchain``, ``llama_index``) to the floor row that measures the
    framework alone (no I/O). Costs add; for rates (``rate=True``) the times per request add.
    """
    column = column or figure.primary
    base = value_of(figure, raw, column)
    floors: dict[str, dict[str, Any]] = {}
    if base is not None:
        floors["transport"] = floors["hub"] = {"value": base, "from": [raw]}
        for family, fake in fakes.items():
            extra = value_of(figure, fake, column)
            if extra is None:
                continue
            total = 1 / (1 / base + 1 / extra) if rate else base + extra
            floors[family] = {"value": total, "from": [raw, fake]}
    figure.extra.setdefault("floors", {})[column] = floors
