"""Progress of a bulk job: a tqdm bar (items done, rate, 429s met) and a callback.

``show=None`` (the default everywhere) shows the bar only for a job of at least
``PROGRESS_MIN_BATCHES`` requests, only when a terminal or a notebook is attached, and only when
tqdm is installed (``hfbridge[progress]``); ``True`` insists (and needs tqdm), ``False`` never.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from typing import Any

from hfbridge._constants import PROGRESS_MIN_BATCHES
from hfbridge.errors import HFConfigError
from hfbridge.transport.jobs import BulkJob

ProgressCallback = Callable[[int, int], None]
"""Called as work completes with ``(items done, items in the job)``."""


def has_tqdm() -> bool:
    """Whether tqdm can be imported."""
    try:
        return importlib.util.find_spec("tqdm") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def check_show_progress(show: bool | None) -> bool | None:
    """``show`` if usable; :class:`HFConfigError` for ``True`` without tqdm."""
    if show is True and not has_tqdm():
        raise HFConfigError("show_progress=True needs tqdm: pip install 'hfbridge[progress]'.")
    return show


def attached() -> bool:
    """Whether someone watches: stderr is a terminal, or the code runs in a Jupyter kernel."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


class Progress:
    """Counts a job's finished items; draws a bar and calls ``callback`` as they finish."""

    def __init__(  # noqa: PLR0913 - what a bar shows
        self,
        total: int,
        *,
        requests: int,
        show: bool | None,
        job: BulkJob | None = None,
        callback: ProgressCallback | None = None,
        desc: str = "Embedding",
        unit: str = "text",
    ) -> None:
        self.total, self.done = total, 0
        self._job, self._callback = job, callback
        self._lock = threading.Lock()
        self._seen = 0
        wanted = (
            show
            if show is not None
            else (requests >= PROGRESS_MIN_BATCHES and attached() and has_tqdm())
        )
        self._bar: Any = None
        if wanted and requests > 1:
            from tqdm import tqdm  # noqa: PLC0415 - optional extra, imported only when shown

            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)

    @property
    def active(self) -> bool:
        """Whether anything listens (a bar or a callback)."""
        return self._bar is not None or self._callback is not None

    def advance(self, count: int) -> None:
        """``count`` more items finished (from any thread)."""
        with self._lock:
            self.done += count
            done = self.done
            if self._bar is not None:
                self._bar.update(count)
                seen = self._job.backpressure if self._job is not None else 0
                if seen != self._seen:
                    self._seen = seen
                    self._bar.set_postfix_str(f"429/503 met: {seen}", refresh=False)
        if self._callback is not None:
            self._callback(done, self.total)

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
