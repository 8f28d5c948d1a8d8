"""How the catalog answers a question: fetched once, remembered, refreshed, a failure remembered.

Every question the catalog asks (:mod:`hfbridge.catalog.catalog` holds them) is a cache key of the
form ``<service>/<what>`` (``router/models``, ``hub/model/org/name``), a fetch and a parse.
:class:`CachedAnswers` decides when the fetch runs and what is answered when it fails:

- A fresh answer (younger than ``ttl``, in memory or on disk) is returned without a request;
  ``refresh=True`` asks again.
- Offline (``offline=True`` or ``HF_HUB_OFFLINE=1``) only the cache answers, however old; no copy
  raises :class:`~hfbridge.errors.HFConnectionError`.
- A failed fetch is remembered for ``failure_ttl`` seconds, during which the same question answers
  at once (from a stale copy when there is one, else with the same error) instead of waiting on
  the network again. A connection failure is remembered for the whole service (every question to
  that host would fail the same way); an HTTP error only for its own question. A success clears
  both.
- A failed fetch with a stale copy answers with it and warns once
  (:class:`CatalogUnavailableWarning`); with ``refresh=True`` or no copy it raises.

The async form reads and writes the disk cache on a worker thread: no file I/O on the event loop.
How answers are stored (memory, the disk mirror) is :mod:`hfbridge.catalog.cache`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from hfbridge._constants import HUB_OFFLINE_ENV
from hfbridge.catalog.cache import Entry, TTLCache, default_cache_dir
from hfbridge.errors import HFConnectionError, HFError

_SEND = object()
_T = TypeVar("_T")


class CatalogUnavailableWarning(UserWarning):
    """The catalog could not be reached; hfbridge goes on with conservative defaults."""


def _scope(key: str) -> str:
    """The service a cache key belongs to (``router`` or ``hub``)."""
    return key.partition("/")[0]


def _env_offline() -> bool:
    return os.environ.get(HUB_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class CachedAnswers:
    """Answers by cache key, each fetched once and remembered (the base of the catalog client).

    Attributes:
        cache: the answers, in memory and (unless ``cache_dir=False``) on disk.
        offline: answer from the cache only.
        failure_ttl: seconds a failed fetch is remembered before the network is tried again.

    Subclasses ask through :meth:`_get` / :meth:`_aget` with a key, a fetch and a parse.
    """

    def __init__(
        self,
        *,
        ttl: float,
        cache_dir: str | os.PathLike[str] | Literal[False] | None,
        offline: bool | None,
        clock: Callable[[], float],
        failure_ttl: float,
    ) -> None:
        directory = (
            None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
        )
        self.cache = TTLCache(ttl=ttl, directory=directory, clock=clock)
        self.offline = _env_offline() if offline is None else offline
        self.failure_ttl = failure_ttl
        self._failures: dict[str, tuple[float, HFError]] = {}
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    # --- warnings --------------------------------------------------------------------------------

    def warn_once(self, key: str, message: str, category: type[Warning]) -> None:
        """``warnings.warn(message)`` the first time ``key`` is seen by this catalog."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(message, category, stacklevel=4)

    def warn_unavailable(self, error: BaseException, *, stale: bool = False) -> None:
        """Warn once per catalog (once per process for the default one) that it is unreachable."""
        what = "using cached data past its TTL" if stale else "using conservative defaults"
        self.warn_once(
            "unavailable",
            f"hfbridge: the model catalog is unreachable ({type(error).__name__}: {error}); "
            f"{what}: provider capabilities, context lengths and prices are unknown, and requests "
            "go to the router as configured. Set HF_HUB_OFFLINE=1 to skip the catalog, or check "
            "the network. This warning is shown once.",
            CatalogUnavailableWarning,
        )

    # --- the cache protocol shared by sync and async ---------------------------------------------

    def _lookup(
        self, key: str, parse: Callable[[Any], Any], refresh: bool
    ) -> tuple[Entry | None, Any]:
        """``(entry, value)``: value is the answer when no request is needed, else ``_SEND``."""
        entry = self.cache.get(key, parse)
        if entry is not None and not refresh and self.cache.is_fresh(entry):
            return entry, entry.value
        if self.offline:
            if entry is not None:
                return entry, entry.value
            raise HFConnectionError(
                f"The catalog is offline ({HUB_OFFLINE_ENV}=1 or offline=True) and has no cached "
                f"copy of {key!r}: unset {HUB_OFFLINE_ENV} once the network is back."
            )
        failure = self._failures.get(key) or self._failures.get(_scope(key))
        if failure is not None and not refresh and self.cache.clock() < failure[0]:
            if entry is not None:
                return entry, entry.value
            raise failure[1]
        return entry, _SEND

    def _store(self, key: str, body: Any, parse: Callable[[Any], Any]) -> Any:
        self._failures.pop(key, None)
        self._failures.pop(_scope(key), None)
        return self.cache.put(key, body, parse(body)).value

    def _failed(self, key: str, entry: Entry | None, error: HFError, refresh: bool) -> Any:
        # No answer at all means the host is unreachable: every question to it fails the same
        # way, so remember it for the whole host (an HTTP error only concerns this question).
        scope = _scope(key) if isinstance(error, HFConnectionError) else key
        self._failures[scope] = (self.cache.clock() + self.failure_ttl, error)
        if entry is None or refresh:
            raise error
        self.warn_unavailable(error, stale=True)
        return entry.value

    def _get(
        self, key: str, fetch: Callable[[], Any], parse: Callable[[Any], _T], refresh: bool
    ) -> _T:
        """The answer to ``key``: cached, else ``parse(fetch())`` (stored), as the module says."""
        entry, value = self._lookup(key, parse, refresh)
        if value is _SEND:
            try:
                body = fetch()
            except HFError as error:
                value = self._failed(key, entry, error, refresh)
            else:
                value = self._store(key, body, parse)
        return cast("_T", value)

    async def _aget(
        self, key: str, fetch: Callable[[], Any], parse: Callable[[Any], _T], refresh: bool
    ) -> _T:
        """Async form of :meth:`_get` (``fetch`` returns an awaitable)."""
        # The disk cache is read and written on a worker thread: no file I/O on the event loop.
        on_disk = self.cache.directory is not None
        if on_disk and not self.cache.in_memory(key):
            entry, value = await asyncio.to_thread(self._lookup, key, parse, refresh)
        else:
            entry, value = self._lookup(key, parse, refresh)
        if value is _SEND:
            try:
                body = await fetch()
            except HFError as error:
                value = self._failed(key, entry, error, refresh)
            else:
                if on_disk:
                    value = await asyncio.to_thread(self._store, key, body, parse)
                else:
                    value = self._store(key, body, parse)
        return cast("_T", value)
